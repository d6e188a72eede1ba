-- Work done inside C: library functions that loop, and single VM
-- instructions whose work grows with a value's size (a numeric coercion of
-- a long digit string, a comparison of long strings, a vararg copy). With
-- a huge instruction budget every case must still end by the deadline;
-- with the default budget the C loops are refused by the budget.
local cases = {}

cases.ok = function() end

-- the stock string.rep loops 2^53 times to make ""
cases.rep_empty = function()
  local s = (""):rep(2^53) .. ("x"):rep(0) .. (""):rep(2^40, "")
  return #s == 0 and "empty" or "not empty"
end

cases.rep_sep = function()
  return ("ab"):rep(3, ",") .. "|" .. (""):rep(3, "-") .. "|" ..
         ("x"):rep(1) .. "|" .. ("x"):rep(0, ",") .. "|" .. ("é"):rep(2)
end

-- C loops over nil slots, and over metamethods written in C
cases.move_nil = function() table.move({}, 1, math.maxinteger - 1, 1) end

cases.concat_meta = function()
  local t = setmetatable({}, { __index = table.concat })
  return table.concat(t, "", 1, 2^53)
end

cases.insert_len = function()
  local t = setmetatable({}, { __len = function() return math.maxinteger - 1 end })
  table.insert(t, 1, "x")
end

cases.remove_len = function()
  local t = setmetatable({}, { __len = function() return math.maxinteger - 1 end })
  table.remove(t, 1)
end

cases.sort_meta = function()
  local t = setmetatable({}, { __len = function() return 2^31 - 2 end,
                               __index = math.type, __newindex = rawequal })
  table.sort(t, math.type)
end

cases.unpack_meta = function()
  local t = setmetatable({}, { __index = rawlen })
  while true do local a = table.unpack(t, 1, 200000) end
end

-- library calls over long strings, in a loop
cases.utf8_len = function()
  local s = ("x"):rep(6 * 2^20)
  while true do local n = utf8.len(s) end
end

cases.upper = function()
  local s = ("x"):rep(4 * 2^20)
  while true do local u = s:upper() end
end

cases.find_plain = function()
  local s = ("x"):rep(6 * 2^20)
  while true do local i = s:find("y", 1, true) end
end

cases.tonumber = function()
  local s = ("1"):rep(6 * 2^20)
  while true do local n = tonumber(s) end
end

cases.format = function()
  local s = ("x"):rep(2 * 2^20)
  while true do local f = string.format("%s", s) end
end

-- single instructions whose work grows with a value
cases.concat_op = function()
  local s = ("x"):rep(4 * 2^20)
  while true do local t = s .. "y" end
end

cases.for_coerce = function()
  local s = ("1"):rep(6 * 2^20)
  while true do for i = 1, s do break end end
end

cases.arith_coerce = function()
  local s = ("1"):rep(6 * 2^20)
  while true do local n = s + 0 end
end

cases.compare = function()
  local a, b = ("x"):rep(3 * 2^20), ("x"):rep(3 * 2^20 - 1) .. "y"
  while true do local c = a < b end
end

cases.vararg = function()
  local t = {}
  for i = 1, 100000 do t[i] = i end
  local function g(...)
    while true do local n = select("#", ...) end
  end
  g(table.unpack(t))
end

-- a long digit string made inside a coroutine by one concatenation of
-- 120 short pieces (no big string before it), then coerced in a loop there
cases.coroutine_concat = function()
  local p = ("1"):rep(15000)
  coroutine.wrap(function()
    local s = p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p ..
              p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p ..
              p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p ..
              p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p ..
              p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p ..
              p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p ..
              p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p ..
              p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p ..
              p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p ..
              p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p .. p
    while true do for i = 1, s do break end end
  end)()
end

-- many short coroutines: each one's instructions count
cases.coroutines = function()
  local n = 0
  while true do
    coroutine.wrap(function() for i = 1, 300 do end end)()
    n = n + 1
    if n == 20000 then return "20000 coroutines ran" end
  end
end

cases.coroutines_resume = function()
  local n = 0
  while true do
    local co = coroutine.create(function() for i = 1, 300 do end end)
    coroutine.resume(co)
    n = n + 1
    if n == 20000 then return "20000 coroutines ran" end
  end
end

-- the stock behaviour of what is wrapped, checked by a clean run
cases.semantics = function()
  local out = {}
  local function add(...) for i = 1, select("#", ...) do out[#out + 1] = tostring((select(i, ...))) end end
  local t = { 1, 2, 3, 4, 5 }
  table.insert(t, "e"); table.insert(t, 1, "a"); table.insert(t, 4, "m")
  add(table.concat(t, ","))
  add(table.remove(t), table.remove(t, 1), table.remove(t, 3), table.concat(t, ","))
  add(pcall(table.insert, t, 9, "x"), pcall(table.insert, t), #t)
  local e = {}
  add(table.remove(e), #e, table.remove(e, 1))
  add(table.concat({}, ","), table.concat({ 1, "b", 3.5 }, "-", 2, 3))
  add(pcall(table.concat, { 1, {}, 3 }))
  local m = { 1, 2, 3, 4, 5, 6, 7, 8 }
  table.move(m, 1, 6, 3); add(table.concat(m, ","))
  local big = {}
  for i = 1, 10000 do big[i] = i end
  table.move(big, 1, 9000, 1001)
  add(big[1000], big[1001], big[5000], big[10000])
  for i = 1, 10000 do big[i] = i end
  table.move(big, 1001, 10000, 1)
  add(big[1], big[8999], big[9000], big[10000])
  local dst = table.move(big, 1, 5000, 1, {})
  add(#dst, dst[5000])
  add(select("#", table.unpack({ 1, 2, 3 })), table.unpack({ 1, 2, 3 }, 2))
  add(select(-1, "a", "b"), select(2, "a", "b", "c"))
  local s = { 5, 3, 9, 1 }
  table.sort(s); add(table.concat(s, ","))
  table.sort(s, function(a, b) return a > b end); add(table.concat(s, ","))
  add(pcall(table.sort, { 3, "x", 1 }))
  add(("héllo"):sub(2, 3), ("hello"):sub(-3), ("hello"):byte(1, 3))
  add(utf8.len("héllo"), utf8.codepoint("héllo", 1, 3), utf8.char(72, 233))
  add(tonumber("0x10"), tonumber("z", 36), string.format("%5.1f|%q", 3.14159, "a\n"))
  add(#("x"):rep(100000), ("ab"):rep(3, ","))
  add(string.rep("x", 3.0), pcall(string.rep, "x", 1.5))
  return table.concat(out, " ")
end

atrium.on("sandbox.before_probe", function(ev)
  return cases[ev.case](ev)
end)

-- registered last: the unit test runs this one in a stock Lua state too
atrium.on("pattern.run", function(ev)
  ev.out = cases.semantics()
end)
