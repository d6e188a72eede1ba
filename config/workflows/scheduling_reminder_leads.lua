-- scheduling_reminder_leads.lua - reminder lead times per type of visit.
--
-- By default reminders go out 72, 24 and 2 hours before a visit
-- ([plugin.scheduling] reminder_leads). A short video check-in only needs
-- a reminder the day before and a quarter of an hour before; a new
-- patient gets one a week ahead too, to bring their paperwork. Units: m, h,
-- d. The outbox moves a reminder out of quiet hours by itself.
if not atrium.setting("plugin.scheduling.cutoff_hours") then return end

local LEADS = {
  ["Telehealth check-in"] = "24h,15m",
}

atrium.on("appointment.before_book", function(ev)
  local leads = LEADS[ev.type_name]
  if leads then
    ev.reminder_leads = leads
  elseif ev.new_patient then
    ev.reminder_leads = "7d,72h,24h"
  end
end)
