-- Sorted before alpha.lua: file order is bytewise ('Z' < 'a').
atrium.on("appointment.before_book", function(ev)
  local t = ev.visit_type
  if t == "forbidden" then return false end
  if t == "reason" then return "no new patients on Fridays" end
  if t == "deny_call" then
    atrium.deny("called deny")
    ev.tags = { "never reached" }
  end
  if t == "deny_caught" then
    pcall(atrium.deny, "caught deny")
    return true
  end
  if t == "badtype" then ev.slot_minutes = "forty"; return end
  if t == "badreturn" then return 42 end
  if t == "nilfield" then ev.visit_type = nil end
  if t == "cycle" then
    local c = {}
    c[1] = c
    ev.tags = c
    return
  end
  ev.slot_minutes = ev.slot_minutes + 15 -- amendable
  ev.patient_id = 999                    -- not amendable: ignored
  ev.tags[#ev.tags + 1] = "zeta1"
end)

atrium.on("appointment.before_book", function(ev)
  ev.tags[#ev.tags + 1] = "zeta2"
end)

atrium.on("appointment.after_book", function(ev)
  ev.pool = "front-desk"
  atrium.deny("too late")
  return false
end)

atrium.on("message.before_send", function(ev)
  if ev.body == "explode" then error("boom") end
  ev.body = ev.body .. " (checked)"
end)
