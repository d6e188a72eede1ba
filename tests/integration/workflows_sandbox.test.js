// Sandbox escapes attempted from a real workflow handler: every script below
// is loaded into a running daemon (admin reload) as a handler of
// appointment.before_book, and a patient then books a visit. Whatever the
// script tries (runaway loops, memory bombs, forbidden libraries), the
// booking must get the documented default of a failing handler on a clinical
// event (403, "this action is not available right now"), the failure must be
// logged with file:line and the event, and /healthz must keep answering
// while the handler runs and after it. Each handler ends with
// `return "escaped"`: a script that got past its attack would deny with that
// reason instead, and the test would say so.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { startDaemon, loginAs, request } = require('./lib');

const UNAVAILABLE = 'this action is not available right now';
// Instructions per call: large enough that a runaway loop lasts a few
// hundred milliseconds (so /healthz is polled while it runs), small enough
// that the budget, not the 5 s deadline, is what stops it.
const INSTRUCTIONS = 15000000;
const DEADLINE_MS = 5000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let d, pat, admin, slot, typeId, providerId;

function sql(q) {
  const r = spawnSync('sqlite3', ['-cmd', '.timeout 5000', d.dbPath, q], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('sqlite3: ' + r.stderr);
  return r.stdout.trim();
}

async function reload(files) {
  const dir = path.join(d.dir, 'workflows');
  for (const f of fs.readdirSync(dir)) fs.unlinkSync(path.join(dir, f));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const r = await admin.post('/api/admin/workflows/reload');
  assert.equal(r.status, 200, `reload: ${r.body}`);
}

// Loads `body` as the only before_book handler (its first line is line 2 of
// escape.lua), books the probe slot while polling /healthz, and returns the
// booking's answer, how long it took and the /healthz latencies seen while
// it ran and just after.
async function attempt(body) {
  await reload({ 'escape.lua': `atrium.on("appointment.before_book", function(ev)\n${body}\nreturn "escaped"\nend)\n` });
  let done = false;
  const t0 = Date.now();
  const booking = pat.post('/api/scheduling/appointments', { type_id: typeId, provider_id: providerId, start: slot })
    .finally(() => { done = true; });
  const during = [];
  // Give the booking a head start so its worker is inside Lua, not
  // accepting connections, when the probes arrive.
  await sleep(30);
  while (!done) {
    const t = Date.now();
    const h = await request(d, 'GET', '/healthz');
    assert.equal(h.status, 200);
    if (!done) during.push(Date.now() - t);
    await sleep(10);
  }
  const r = await booking;
  const ms = Date.now() - t0;
  const t = Date.now();
  assert.equal((await request(d, 'GET', '/healthz')).status, 200);
  return { r, ms, during, after: Date.now() - t };
}

function assertDenied(res, label) {
  assert.equal(res.r.status, 403, `${label}: ${res.r.body}`);
  assert.deepEqual(res.r.json.error, { code: 'denied_by_rule', message: UNAVAILABLE }, label);
  // Nothing was booked.
  assert.equal(sql(`SELECT COUNT(*) FROM scheduling_appointments WHERE start_utc = ${Date.parse(slot) / 1000}`), '0', label);
}

async function lastError() {
  const st = await admin.get('/api/admin/workflows');
  assert.equal(st.status, 200);
  return st.json.errors[0] ? st.json.errors[0].message : '';
}

before(async () => {
  d = await startDaemon({
    config: {
      plugins: { scheduling: 'on' },
      workflows: { instructions: INSTRUCTIONS, deadline_ms: DEADLINE_MS },
    },
  });
  [pat, admin] = await Promise.all([loginAs(d, 'patient.demo'), loginAs(d, 'admin.demo')]);
  const types = (await pat.get('/api/scheduling/types')).json.types;
  typeId = types.find((t) => t.name === 'Telehealth check-in').id;
  providerId = (await pat.get('/api/scheduling/providers')).json.providers
    .find((p) => p.display_name === 'Dr. Priya Patel').id;
  for (let n = 7; !slot; n++) {
    const day = new Date(Date.now() + n * 86400e3).toISOString().slice(0, 10);
    const r = await pat.get(`/api/scheduling/slots?type=${typeId}&provider=${providerId}&from=${day}&to=${day}`);
    assert.equal(r.status, 200, r.body);
    if (r.json.slots.length) slot = r.json.slots[0].start;
    assert.ok(n < 20, 'a bookable slot within three weeks');
  }
});
after(() => d && d.stop());

const RUNAWAYS = {
  'while true do end': 'while true do end',
  'goto loop': '::top:: goto top',
  'numeric for to math.huge': 'for i = 1, math.huge do end',
  'nested pcall loops': `
    while true do
      pcall(function()
        while true do pcall(function() while true do end end) end
      end)
    end`,
  'pcall catching the budget error again and again': `
    local n = 0
    while true do
      local ok = pcall(function() while true do n = n + 1 end end)
      n = 0
    end`,
  'xpcall with a looping message handler': `
    while true do
      xpcall(function() while true do end end, function() while true do end end)
    end`,
  'coroutine ping-pong loop': `
    local co = coroutine.wrap(function() while true do coroutine.yield() end end)
    while true do co() end`,
  'loop inside a coroutine, resumed under pcall': `
    while true do
      local co = coroutine.create(function() while true do end end)
      pcall(coroutine.resume, co)
    end`,
  'a __close handler that loops': `
    do
      local x <close> = setmetatable({}, { __close = function() while true do end end })
    end`,
  'an error object whose __tostring loops': `
    error(setmetatable({}, { __tostring = function() while true do end end }))`,
  'recursion without end': `
    local function f(n) return f(n + 1) + 1 end
    f(1)`,
  'pattern backtracking': `
    local s = ("a"):rep(3000)
    while true do s:find("(.-)(.-)(.-)(.-)x") end`,
};

test('runaway handlers are stopped, the booking is refused by the default and /healthz answers throughout', async () => {
  let probes = 0;
  for (const [label, body] of Object.entries(RUNAWAYS)) {
    const res = await attempt(body);
    assertDenied(res, label);
    // The budget ends every one of them well before the deadline.
    assert.ok(res.ms < DEADLINE_MS, `${label}: took ${res.ms} ms`);
    for (const ms of res.during) assert.ok(ms < 1000, `${label}: /healthz took ${ms} ms during the handler`);
    assert.ok(res.after < 1000, `${label}: /healthz took ${res.after} ms after`);
    probes += res.during.length;
    const err = await lastError();
    assert.match(err, /^escape\.lua:\d+: appointment\.before_book: /, label);
    if (!/tostring|recursion/.test(label))
      assert.match(err, /instruction budget exceeded|time limit exceeded/, `${label}: ${err}`);
  }
  // /healthz was really polled while handlers ran, not only between them.
  assert.ok(probes >= 5, `only ${probes} /healthz probes landed while a handler ran`);
});

// Each coroutine runs 300 loop steps (over 300 instructions) and the
// handler gives up with "coroutine overrun" once 100,000 of them finished:
// over 30 million instructions, twice the budget. If coroutines are charged
// like the code that starts them, the budget stops the handler first.
test('instructions run inside short-lived coroutines count against the budget', async () => {
  const res = await attempt(`
    local n = 0
    while true do
      coroutine.wrap(function() for i = 1, 300 do end end)()
      n = n + 1
      if n == 100000 then return "coroutine overrun: 100000 coroutines ran" end
    end`);
  assertDenied(res, 'short-lived coroutines');
});

const MEMORY_BOMBS = {
  '("x"):rep(2^30)': 'local s = ("x"):rep(2^30)',
  '("x"):rep(2^30) with a separator': 'local s = ("x"):rep(2^29, "y")',
  'a string that doubles': 'local s = "x" while true do s = s .. s end',
  'a huge array': 'local t = {} for i = 1, 1e9 do t[i] = i end',
  'a huge table with string keys': 'local t = {} for i = 1, 1e9 do t["key" .. i] = i end',
  'table.concat of many strings': `
    local t = {} for i = 1, 4e6 do t[i] = "0123456789" end
    local s = table.concat(t)`,
  'a memory bomb kept in a global between calls': 'hoard = hoard or {} for i = 1, 1e9 do hoard[#hoard + 1] = ("x"):rep(1024) .. i end',
};

test('memory bombs hit the memory cap, the booking is refused and the daemon keeps serving', async () => {
  for (const [label, body] of Object.entries(MEMORY_BOMBS)) {
    const res = await attempt(body);
    assertDenied(res, label);
    assert.ok(res.after < 1000, `${label}: /healthz took ${res.after} ms after`);
    assert.match(await lastError(), /^escape\.lua:\d+: appointment\.before_book: .*memory limit exceeded/, label);
  }
});

test('forbidden libraries and functions are out of reach', async () => {
  const canary = path.join(os.tmpdir(), `atrium-wf-canary-${crypto.randomBytes(6).toString('hex')}`);
  const lua = JSON.stringify(canary);
  const attempts = {
    'load of a binary chunk': 'local f = load("\\27Lua\\84\\0\\25\\147\\13\\10\\26\\10\\4\\8\\8")',
    'load of text': 'local f = load("return 1")',
    'string.dump': 'local b = string.dump(function() end)',
    'string.dump through a string method': 'local b = ("x").dump(function() end)',
    'loadstring': 'local f = loadstring("return 1")',
    'dofile': 'dofile("/etc/passwd")',
    'loadfile': 'local f = loadfile("/etc/passwd")',
    'require': 'local d = require("debug")',
    'package.loadlib': 'local f = package.loadlib("libc.so.6", "system")',
    'io.open': `local f = io.open(${lua}, "w") f:write("x") f:close()`,
    'io.popen': 'io.popen("id")',
    'os.execute': `os.execute("touch " .. ${lua})`,
    'os.remove': `os.remove(${lua})`,
    'os.exit': 'os.exit(1)',
    'os.getenv': 'local p = os.getenv("PATH") if p then error("got " .. p) end assert(os.getenv)',
    'debug.sethook()': 'debug.sethook()',
    'debug through _G': '_G.debug.sethook()',
    'debug through _ENV': '_ENV.debug.getinfo(1)',
    'collectgarbage': 'collectgarbage("stop")',
    'print': 'print("hello")',
    'the string metatable': 'getmetatable("").__index.upper = function() end',
    'rawset on a shared library': 'rawset(string, "upper", function() end)',
    'assignment to a shared library': 'string.upper = function() end',
    'assignment to the atrium table': 'atrium.deny = function() end',
    'setmetatable on a shared library': 'setmetatable(table, {})',
    'a finalizer (__gc)': 'setmetatable({}, { __gc = function() while true do end end })',
    'a lookup that does not exist': 'atrium.lookup("core.users", {})',
  };
  for (const [label, body] of Object.entries(attempts)) {
    const res = await attempt(body);
    assertDenied(res, label);
    assert.match(await lastError(), /^escape\.lua:\d+: appointment\.before_book: /, label);
  }
  assert.equal(fs.existsSync(canary), false, 'a script wrote a file');
  assert.equal(d.exitCode, null, 'the daemon is still running');
});

test('after every escape a sound rule works again and each failure was logged with file, line and event', async () => {
  // The rule's state is rebuilt after the memory failures; it still runs.
  await reload({ 'ok.lua': 'atrium.on("appointment.before_book", function(ev) if ev.type_name ~= "Telehealth check-in" then return "wrong payload" end end)' });
  const r = await pat.post('/api/scheduling/appointments', { type_id: typeId, provider_id: providerId, start: slot });
  assert.equal(r.status, 201, r.body);
  assert.equal(r.json.appointment.status, 'booked');
  const logged = d.stderr.split('\n').filter((l) => /comp=workflow/.test(l) && /level=error/.test(l));
  assert.ok(logged.length >= Object.keys(RUNAWAYS).length + Object.keys(MEMORY_BOMBS).length);
  for (const l of logged) assert.match(l, /msg="escape\.lua:\d+: appointment\.before_book: /);
  const st = (await admin.get('/api/admin/workflows')).json;
  assert.equal(st.errors.length, 20, 'the admin page keeps the last 20 failures');
});

test('a failing notification.before_send handler (not clinical) is skipped: the notification still goes out', async () => {
  await reload({
    'notify.lua': `
      atrium.on("notification.before_send", function(ev)
        if ev.ref == "wf-deny" then return false end
        while true do end
      end)`,
  });
  const uid = Number(sql("SELECT id FROM users WHERE username = 'patient.demo'"));
  const queue = (ref) => Number(sql(
    `INSERT INTO outbox (user_id, kind, ref, data, source, not_before, created_at, idempotency_key) VALUES (${uid}, 'wf_probe', '${ref}', '{}', 'test', strftime('%s','now'), strftime('%s','now'), '${crypto.randomBytes(24).toString('hex')}') RETURNING id`));
  const broken = queue('wf-broken');
  const denied = queue('wf-deny');
  const status = (id) => sql(`SELECT status FROM outbox WHERE id = ${id}`);
  for (let i = 0; i < 100 && (status(broken) === 'queued' || status(denied) === 'queued'); i++) await sleep(100);
  assert.equal(status(broken), 'sent', 'a broken rule on a non-clinical event lets the notification through');
  assert.equal(status(denied), 'suppressed', 'a rule returning false suppresses it');
  assert.match(sql(`SELECT last_error FROM notify_deliveries WHERE outbox_id = ${denied}`), /workflow rule/);
  assert.match(await lastError(), /^notify\.lua:\d+: notification\.before_send: instruction budget exceeded/);
});
