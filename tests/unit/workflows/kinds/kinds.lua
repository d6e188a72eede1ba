-- Notification kinds: what the outbox takes (lowercase letters, digits,
-- '_', 1 to 64 of them) and nothing else.
local kinds = { "appointment_reminder", "k2_x", ("a"):rep(64),
                "appointment.reminder", "Reminder", "a-b", "", ("a"):rep(65),
                "caf\195\169", "a b" }

atrium.on("api.call", function(ev)
  local out = {}
  for _, k in ipairs(kinds) do
    out[#out + 1] = tostring((pcall(atrium.notify, { user_id = 1, kind = k })))
  end
  local _, err = pcall(atrium.notify, { user_id = 1, kind = "a.b" })
  ev.out = table.concat(out, ",") .. "|" .. err
end)
