atrium.on("message.before_send", function(ev)
  error("broken rule")
end)

atrium.on("message.before_send", function(ev)
  ev.body = "second ran"
end)
