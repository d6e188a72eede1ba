-- "keep" grows this script's globals across calls until the state is full
kept = {}

atrium.on("appointment.before_book", function(ev)
  if ev.visit_type == "table" then
    local t = {}
    for i = 1, 1e8 do t[i] = i end
  elseif ev.visit_type == "keep" then
    kept[#kept + 1] = ("k"):rep(1024 * 1024 - 64) .. #kept
  end
end)
