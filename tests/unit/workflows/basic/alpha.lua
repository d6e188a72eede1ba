atrium.on("appointment.before_book", function(ev)
  -- sees what Zeta.lua's handlers amended, not the changes refused
  if ev.patient_id == 999 then ev.tags[#ev.tags + 1] = "leaked" end
  ev.tags[#ev.tags + 1] = "alpha:" .. ev.slot_minutes
end)

atrium.on("appointment.after_book", function(ev)
  ev.tags = { "after", ev.pool }
end)
