atrium.every(0, function() end)
