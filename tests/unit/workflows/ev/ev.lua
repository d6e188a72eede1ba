-- What a handler's ev is: a proxy over the payload that takes fields as
-- they are read and records the ones written (core/workflow_run.c).
local kept

atrium.on("appointment.before_book", function(ev)
  local t = ev.visit_type
  if t == "pairs" then
    local keys = {}
    for k, v in pairs(ev) do keys[#keys + 1] = k .. "=" .. type(v) end
    table.sort(keys)
    ev.tags = keys
  elseif t == "rw" then
    ev.pool = "p1"
    local a = ev.pool
    ev.pool = nil
    local b = ev.pool
    ev.tags = { a, tostring(b), tostring(getmetatable(ev)),
                tostring(pcall(setmetatable, ev, {})),
                tostring(rawget(ev, "visit_type")), tostring(next(ev)),
                ev.event, tostring(ev.missing), tostring(ev[1]) }
    ev.pool = "final"
  elseif t == "keep" then
    kept = ev
  elseif t == "stale" then
    local ok, err = pcall(function() return kept.visit_type end)
    ev.tags = { tostring(ok), err }
  elseif t == "notify" then
    atrium.notify{ user_id = 1, kind = "ev_copy", data = ev }
  elseif t == "rawset" then
    rawset(ev, "slot_minutes", 50)
  elseif t == "self" then
    ev.tags = ev
  elseif t == "delete" then
    ev.slot_minutes = nil
  elseif t == "same" then
    ev.patient_id = ev.patient_id
    ev.patient = { name = "Ann" }
  elseif t == "nested" then
    ev.patient.name = "changed"
    ev.tags[#ev.tags + 1] = "nested"
  end
end)
