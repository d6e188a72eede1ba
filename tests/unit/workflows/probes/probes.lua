-- Each probe tries to escape the sandbox or exhaust it; every one must end
-- in an error for the handler call, and the next call must work.
local probes = {}

probes.ok = function(ev) end

probes.loop = function() while true do end end

probes.nested_pcall = function()
  while true do
    pcall(function() while true do end end)
  end
end

probes.xpcall_handler = function()
  while true do
    xpcall(function() while true do end end,
           function() while true do end end)
  end
end

probes.coroutine_wrap = function()
  coroutine.wrap(function() while true do end end)()
end

probes.coroutine_resume = function()
  local co = coroutine.create(function()
    while true do coroutine.yield() end
  end)
  while true do coroutine.resume(co) end
end

probes.coroutine_pcall = function()
  while true do
    local co = coroutine.create(function()
      while true do pcall(function() while true do end end) end
    end)
    coroutine.resume(co)
  end
end

-- a coroutine killed by the budget must not run its __close handlers
-- unbudgeted, now (wrap closes them) or in a later call (close)
probes.coroutine_close = function()
  coroutine.wrap(function()
    local x <close> = setmetatable({}, {
      __close = function() while true do end end })
    while true do end
  end)()
end

local zombie
probes.zombie_make = function()
  zombie = coroutine.create(function()
    local x <close> = setmetatable({}, {
      __close = function() while true do end end })
    while true do end
  end)
  coroutine.resume(zombie)
end

probes.zombie_close = function()
  coroutine.close(zombie)
  error("closed the zombie")
end

probes.rep = function() return ("x"):rep(2^30) end

probes.concat = function()
  local s = "x"
  while true do s = s .. s end
end

probes.table_growth = function()
  local t = {}
  for i = 1, 1e9 do t[i] = { i } end
end

probes.pattern_bomb = function()
  return string.find(("a"):rep(5000), "(.-)(.-)(.-)(.-)b")
end

probes.gsub_bomb = function()
  return (("a"):rep(3000)):gsub(".-.-.-.-b", "")
end

probes.load_binary = function()
  return load("\27Lua\84\0\25\147\13\10\26\10\4\8\8")
end

probes.string_dump = function() return string.dump(probes.ok) end

probes.debug = function() debug.sethook(function() end, "", 0) end

probes.io = function() return io.open("/etc/passwd") end

probes.os_execute = function() return os.execute("true") end

probes.os_exit = function() os.exit(1) end

probes.require = function() return require("os") end

probes.package = function() return package.loadlib("libc.so.6", "system") end

probes.dofile = function() return dofile("/etc/passwd") end

probes.collectgarbage = function() collectgarbage("stop") end

probes.string_mt = function() getmetatable("").__index.rep = nil end

probes.setmetatable_string = function() setmetatable(string, {}) end

probes.rawset_string = function() rawset(string, "rep", nil) end

probes.gc = function()
  setmetatable({}, { __gc = function() while true do end end })
end

probes.error_table = function() error({ code = 7 }) end

probes.deep_recursion = function()
  local function f() return 1 + f() end
  return f()
end

atrium.on("sandbox.before_probe", function(ev)
  return probes[ev.case](ev)
end)
