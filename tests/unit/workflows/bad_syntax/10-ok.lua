atrium.on("appointment.before_book", function(ev) end)
