-- scheduling_auto_approve.lua - auto-approve follow-up visits with the
-- patient's own physician.
--
-- In the demo practice a follow-up visit booked online is a request that
-- staff approve (its type "needs approval"). When the patient books it with
-- their own physician (the one assigned to them, else the one they last
-- saw), this rule books it at once instead: it sets the amendable `status`
-- field of appointment.before_book to "booked".
--
-- Runs only when the scheduling plugin is on (its events exist only then).
if not atrium.setting("plugin.scheduling.cutoff_hours") then return end

local FOLLOW_UP = "Follow-up visit"

atrium.on("appointment.before_book", function(ev)
  if ev.status == "pending"
      and ev.type_name == FOLLOW_UP
      and ev.patient_primary_provider_id ~= nil
      and ev.provider_id == ev.patient_primary_provider_id then
    ev.status = "booked"
  end
end)
