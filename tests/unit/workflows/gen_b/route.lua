atrium.on("appointment.before_book", function(ev)
  ev.pool = "B"
end)
