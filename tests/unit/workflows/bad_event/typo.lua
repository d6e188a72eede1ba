-- a typo in the event name
atrium.on("appointment.before_bok", function(ev) end)
