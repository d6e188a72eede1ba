
atrium.daily("25:00", function() end)
