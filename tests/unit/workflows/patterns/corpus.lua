-- The same corpus runs in the sandbox (budgeted pattern functions) and, in
-- the unit test, in a plain Lua state (stock string library): the outputs
-- must be identical.
local subjects = {
  "", "hello world", "  trim me  ", "key=val; k2=v2", "aaa", "a.b.c",
  "THE (quick) [brown] fox", "x=1, y=22, z=333", "f(a(b)c)d", "\0a\0b",
  "caf\195\169 na\195\175ve", "  ", "one two  three", "[[x]]", "a-b-c",
}

local patterns = {
  "", "o", "l+", "l*", "l-", "l?", "^h", "d$", "^$", ".-", ".", "$", "^",
  "(%w+)=(%w+)", "%s*(.-)%s*$", "^%s*(.-)%s*$", "%b()", "%b[]", "%bxy",
  "%f[%a]%a+", "%f[%w]%w+%f[%W]", "%f[%z]", "()ll()", "()", "(a)%1",
  "(a*(.)%w(%s*))", "[%a_][%w_]*", "[^%s]+", "[]]", "[^]]", "[a-c]+",
  "[%]]", "[a%-z]", "[%a-]", "[-a]", "%d+", "%D+", "%u", "%l%l", "%p",
  "%x+", "%c", "%g+", "%S+", "%W", "a-b", "a-$", "x*$", "%.", "a.", "\0",
  "%z", "[\0a]", "(h)(e)(l)(l)(o)", "(.)(.)%2", "((a)(b))", "(a)(b)?",
  "[", "[a", "[^", "(", ")", "%", "%1", "(%1)", "%b", "%ba", "%f", "%fa",
  "[%", "(()", "(a))", "%0", "x%", "[%w-%d]", "[a-]", "[]", "[^]",
  string.rep("(", 33) .. "a" .. string.rep(")", 33),
  string.rep("a?", 20) .. string.rep("a", 20),
}

local function esc(s)
  local t = {}
  for i = 1, #s do
    local b = s:byte(i)
    if b < 32 or b > 126 or b == 92 then
      t[#t + 1] = "\\" .. b
    else
      t[#t + 1] = string.char(b)
    end
  end
  return table.concat(t)
end

local function ser(ok, ...)
  local parts = { ok and "ok" or "err" }
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "string" then
      parts[#parts + 1] = "s:" .. esc(v)
    else
      parts[#parts + 1] = type(v) .. ":" .. tostring(v)
    end
  end
  return table.concat(parts, " ")
end

local function gm(s, p, init)
  local r = {}
  for a, b in string.gmatch(s, p, init) do
    r[#r + 1] = tostring(a) .. "," .. tostring(b)
    if #r > 40 then break end
  end
  return table.concat(r, ";")
end

local repl_t = { hello = "HI", o = false, a = 1, l = "L" }
local function repl_f(a, b)
  if b ~= nil then return tostring(a) .. "|" .. tostring(b) end
  if a == "a" then return false end
  return nil
end

local function corpus()
  local out = {}
  local function add(...) out[#out + 1] = ser(...) end
  for _, s in ipairs(subjects) do
    for _, p in ipairs(patterns) do
      add(pcall(string.find, s, p))
      add(pcall(string.find, s, p, 3))
      add(pcall(string.find, s, p, -2))
      add(pcall(string.find, s, p, 100))
      add(pcall(string.find, s, p, 1, true))
      add(pcall(string.match, s, p))
      add(pcall(string.match, s, p, -4))
      add(pcall(string.gsub, s, p, "<%0>"))
      add(pcall(string.gsub, s, p, "[%1]", 2))
      add(pcall(string.gsub, s, p, "%%"))
      add(pcall(string.gsub, s, p, "%2"))
      add(pcall(string.gsub, s, p, "%"))
      add(pcall(string.gsub, s, p, repl_f))
      add(pcall(string.gsub, s, p, repl_t))
      add(pcall(string.gsub, s, p, 7))
      add(pcall(string.gsub, s, p, {}, 1))
      add(pcall(gm, s, p))
      add(pcall(gm, s, p, 4))
      add(pcall(gm, s, p, -3))
      add(pcall(function() return s:find(p) end))
    end
  end
  add(pcall(string.gsub, "abc", "b", true))
  add(pcall(string.gsub, "abc", "b", function() return {} end))
  add(pcall(string.find))
  add(pcall(string.match, "x"))
  add(pcall(string.gmatch, nil, "x"))
  return table.concat(out, "\n")
end

atrium.on("pattern.run", function(ev)
  ev.out = corpus()
end)
