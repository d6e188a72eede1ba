atrium.on("iso.before_check", function(ev)
  ev.intact = ("x"):rep(3) == "xxx" and string.rep("y", 2) == "yy"
    and math.floor(2.5) == 2 and tostring(1) == "1"
    and type(pairs) == "function" and type(atrium.deny) == "function"
    and os.time{year = 2026, month = 1, day = 1, hour = 12} > 0
end)
