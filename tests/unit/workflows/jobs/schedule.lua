atrium.every(10, function()
  atrium.notify{ user_id = 1, kind = "every_tick" }
end)

atrium.daily("08:00", function()
  local t = atrium.localtime()
  atrium.notify{ user_id = 1, kind = "daily_tick",
                 data = { hour = t.hour, min = t.min,
                          date = atrium.date("%Y-%m-%d %H:%M") } }
end)
