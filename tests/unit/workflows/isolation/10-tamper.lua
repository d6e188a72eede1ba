-- Tries to change the shared library for every other script; counts the
-- attempts that did not raise an error.
local fake = function() return "pwned" end

atrium.on("iso.before_check", function(ev)
  local attempts = {
    function() string.rep = fake end,
    function() rawset(string, "rep", fake) end,
    function() getmetatable("").__index.rep = fake end,
    function() setmetatable(string, { __index = { rep = fake } }) end,
    function() table.insert(string, fake) end,
    function() math.floor = fake end,
    function() atrium.deny = fake end,
    function() coroutine.wrap = fake end,
    function() os.time = fake end,
    function() setmetatable(getmetatable(""), nil) end,
    function() rawset(getmetatable(""), "__index", { rep = fake }) end,
  }
  local ok = 0
  for _, f in ipairs(attempts) do
    if pcall(f) then ok = ok + 1 end
  end
  -- its own globals are its own business
  pairs = nil
  tostring = fake
  ev.tampered = ok
end)
