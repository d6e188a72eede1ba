-- Settings whose name looks like a credential are not handed to scripts.
local keys = { "practice.name", "plugin.scheduling.cutoff_hours",
               "plugin.keyring.cutoff", "plugin.billing.api_key",
               "plugin.billing.webhook_secret", "plugin.billing.smtp_Password",
               "plugin.billing.token_ttl", "plugin.billing.KEY" }

atrium.on("api.call", function(ev)
  local out = {}
  for _, k in ipairs(keys) do out[#out + 1] = tostring(atrium.setting(k)) end
  ev.out = table.concat(out, ",")
end)
