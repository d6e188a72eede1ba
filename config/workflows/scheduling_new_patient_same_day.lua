-- scheduling_new_patient_same_day.lua - refuse same-day online booking of
-- new-patient visits, with a friendly reason.
--
-- A first visit needs paperwork and a longer slot, so the front desk wants
-- a day's notice. Patients booking online for today get the reason below
-- (shown to them as the error message); staff booking on a patient's
-- behalf are not affected.
if not atrium.setting("plugin.scheduling.cutoff_hours") then return end

atrium.on("appointment.before_book", function(ev)
  if ev.new_patient and ev.self_booked
      and string.sub(ev.start_local, 1, 10) == ev.today then
    return "New patient visits can't be booked online for today. " ..
        "Please choose another day, or call us and we will fit you in."
  end
end)
