atrium.on("appointment.before_book", function(ev)
  if ev.x then
    return = 1
  end
end)
