// Reloading workflow scripts in a running daemon: the admin API and SIGHUP
// swap in new rules, a broken script is refused with file:line while the
// old rules keep working, a request in flight finishes on the rules it
// started with, 20 reloads under wrk load fail no request, and
// `atriumd --check-workflows DIR` validates a folder offline.
//
// The probe is a patient booking a visit: every attempt emits
// appointment.before_book, and the rules loaded here refuse it with a
// reason naming their generation, so no slot is ever used up.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { startDaemon, loginAs, runCli, ROOT } = require('./lib');

const WRK = fs.existsSync('/usr/bin/wrk') ? '/usr/bin/wrk' : 'wrk';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let d, pat, admin, staff, probe, wfdir;

// A rule refusing every booking with "rule NAME".
const ruleText = (name, extra = '') =>
  `atrium.on("appointment.before_book", function(ev)\n${extra}\n  return "rule ${name}"\nend)\n`;

function write(name, text) {
  fs.writeFileSync(path.join(wfdir, name), text);
}

async function reload(expect = 200) {
  const r = await admin.post('/api/admin/workflows/reload');
  assert.equal(r.status, expect, r.body);
  return r;
}

// The reason the current rules give for the probe booking.
async function verdict() {
  const r = await pat.post('/api/scheduling/appointments', probe);
  assert.equal(r.status, 403, r.body);
  return r.json.error.message;
}

before(async () => {
  d = await startDaemon({
    config: { plugins: { scheduling: 'on' }, workflows: { instructions: 1000000000, deadline_ms: 3000 } },
    workflows: { 'rules.lua': ruleText('A') },
  });
  wfdir = path.join(d.dir, 'workflows');
  [pat, admin, staff] = await Promise.all(['patient.demo', 'admin.demo', 'staff.demo'].map((u) => loginAs(d, u)));
  const type = (await pat.get('/api/scheduling/types')).json.types.find((t) => t.name === 'Telehealth check-in');
  const provider = type.provider_ids[0];
  for (let n = 7; !probe && n < 21; n++) {
    const day = new Date(Date.now() + n * 86400e3).toISOString().slice(0, 10);
    const s = (await pat.get(`/api/scheduling/slots?type=${type.id}&provider=${provider}&from=${day}&to=${day}`)).json.slots;
    if (s.length) probe = { type_id: type.id, provider_id: provider, start: s[0].start };
  }
  assert.ok(probe, 'a free slot');
});
after(() => d && d.stop());

test('POST /api/admin/workflows/reload swaps in new rules and GET /api/admin/workflows lists them', async () => {
  assert.equal(await verdict(), 'rule A');
  const before1 = (await admin.get('/api/admin/workflows')).json;
  write('rules.lua', ruleText('B'));
  write('20-jobs.lua', 'atrium.every(3600, function() end)\natrium.on("user.login", function() end)\n');
  await reload();
  assert.equal(await verdict(), 'rule B');
  const st = (await admin.get('/api/admin/workflows')).json;
  assert.equal(st.generation, before1.generation + 1);
  assert.equal(st.dir, wfdir);
  assert.deepEqual(st.files, [{ name: '20-jobs.lua', handlers: 1, jobs: 1 }, { name: 'rules.lua', handlers: 1, jobs: 0 }]);
  assert.equal(st.jobs.length, 1);
  assert.equal(st.jobs[0].file, '20-jobs.lua');
  assert.equal(st.reload_error, null);
  fs.unlinkSync(path.join(wfdir, '20-jobs.lua'));
});

test('SIGHUP reloads the scripts', async () => {
  const gen = (await admin.get('/api/admin/workflows')).json.generation;
  write('rules.lua', ruleText('C'));
  d.proc.kill('SIGHUP');
  for (let i = 0; i < 50 && (await admin.get('/api/admin/workflows')).json.generation === gen; i++) await sleep(100);
  assert.equal((await admin.get('/api/admin/workflows')).json.generation, gen + 1);
  assert.equal(await verdict(), 'rule C');
});

test('a broken script is refused with file:line, by the API (422) and by SIGHUP, and the old rules keep working', async () => {
  write('rules.lua', ruleText('D'));
  write('30-broken.lua', '-- a comment\natrium.on("appointment.before_book", function(ev)\n  if ev then\nend)\n');
  let r = await reload(422);
  assert.equal(r.json.error.code, 'workflow_error');
  assert.match(r.json.error.message, /30-broken\.lua:4: /);
  assert.equal(await verdict(), 'rule C', 'the previous generation still runs');
  let st = (await admin.get('/api/admin/workflows')).json;
  assert.match(st.reload_error.message, /30-broken\.lua:4: /);
  assert.deepEqual(st.files.map((f) => f.name), ['rules.lua']);

  write('30-broken.lua', '\natrium.on("appointment.before_bok", function(ev) end)\n');
  r = await reload(422);
  assert.match(r.json.error.message, /30-broken\.lua:2: .*unknown event 'appointment\.before_bok'/);
  write('30-broken.lua', 'atrium.on("appointment.before_book", function(ev) end)\nlocal x = nil + 1\n');
  r = await reload(422);
  assert.match(r.json.error.message, /30-broken\.lua:2: .*arithmetic/);

  const before1 = d.stderr.length;
  d.proc.kill('SIGHUP');
  for (let i = 0; i < 100 && !/reload refused/.test(d.stderr.slice(before1)); i++) await sleep(100);
  assert.match(d.stderr.slice(before1), /level=error comp=workflow msg="reload refused, previous rules kept: 30-broken\.lua:2: /);
  assert.equal(await verdict(), 'rule C');

  fs.unlinkSync(path.join(wfdir, '30-broken.lua'));
  await reload();
  assert.equal(await verdict(), 'rule D');
  st = (await admin.get('/api/admin/workflows')).json;
  assert.deepEqual(st.files.map((f) => f.name), ['rules.lua']);
});

test('only an admin may reload the scripts or read their status', async () => {
  for (const c of [pat, staff]) {
    assert.equal((await c.post('/api/admin/workflows/reload')).status, 403);
    assert.equal((await c.get('/api/admin/workflows')).status, 403);
  }
  const anon = await fetch(`${d.url}/api/admin/workflows`);
  assert.equal(anon.status, 401);
});

test('a request in flight finishes on the rules it started with', async () => {
  // The slow rule says when it starts, then spins for one to two seconds
  // of wall clock; the reload happens while it spins.
  write('rules.lua', ruleText('E-slow',
    '  atrium.log("slow rule started")\n  local t = atrium.now()\n  while atrium.now() < t + 2 do end'));
  await reload();
  const mark = d.stderr.length;
  let answeredAt = 0;
  const inflight = pat.post('/api/scheduling/appointments', probe).then((r) => { answeredAt = Date.now(); return r; });
  for (let i = 0; i < 100 && !d.stderr.slice(mark).includes('slow rule started'); i++) await sleep(20);
  assert.ok(d.stderr.slice(mark).includes('slow rule started'), 'the slow rule ran');
  write('rules.lua', ruleText('F'));
  await reload();
  const reloadedAt = Date.now();
  const r = await inflight;
  assert.ok(answeredAt > reloadedAt, 'the reload finished while the slow request was in flight');
  assert.equal(r.status, 403, r.body);
  assert.equal(r.json.error.message, 'rule E-slow');
  assert.equal(await verdict(), 'rule F');
});

// wrk posts the probe booking from 32 connections; a Lua script classifies
// each answer: a refusal by generation G or H is expected, anything else
// (another status, the failure default, a socket error) is a failure.
function wrkScript(file) {
  const body = JSON.stringify(probe).replace(/'/g, "\\'");
  fs.writeFileSync(file, `
wrk.method = "POST"
wrk.body = '${body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = "${pat.cookie}"
wrk.headers["X-CSRF-Token"] = "${pat.csrf}"
wrk.headers["Origin"] = "${d.url}"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init() g, h, other, sample = 0, 0, 0, "" end
function response(status, headers, body)
  if status == 403 and body:find('"rule G"', 1, true) then g = g + 1
  elseif status == 403 and body:find('"rule H"', 1, true) then h = h + 1
  else
    other = other + 1
    if sample == "" then sample = status .. " " .. body end
  end
end
function done(summary, latency, requests)
  local G, H, O, S = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    G = G + t:get("g"); H = H + t:get("h"); O = O + t:get("other")
    if S == "" then S = t:get("sample") end
  end
  local e = summary.errors
  io.write(string.format("RESULT g=%d h=%d other=%d connect=%d read=%d write=%d timeout=%d status=%d\\n",
    G, H, O, e.connect, e.read, e.write, e.timeout, e.status))
  io.write("SAMPLE " .. S .. "\\n")
end
`);
}

test('20 reloads under wrk load (-t2 -c32, at least 5 s) fail no request', async () => {
  write('rules.lua', ruleText('G'));
  await reload();
  const script = path.join(d.dir, 'probe.lua');
  wrkScript(script);
  const out = [];
  // wrk runs at least 5 s and until the 20 reloads are done (then SIGINT
  // makes it stop and report), so every reload happens under load however
  // slowly a loaded test machine answers. --timeout 10s: slow is not failed.
  const wrk = spawn(WRK, ['-t2', '-c32', '-d60s', '--timeout', '10s', '--latency', '-s', script,
    `${d.url}/api/scheduling/appointments`]);
  wrk.stdout.on('data', (b) => out.push(b));
  wrk.stderr.on('data', (b) => out.push(b));
  const exited = new Promise((res) => wrk.on('exit', res));
  const t0 = Date.now();
  await sleep(300);
  for (let i = 0; i < 20; i++) {
    write('rules.lua', ruleText(i % 2 ? 'G' : 'H'));
    await reload();
  }
  const reloadMs = Date.now() - t0;
  await sleep(Math.max(300, 5000 - reloadMs));
  wrk.kill('SIGINT');
  assert.equal(await exited, 0, Buffer.concat(out).toString());
  const text = Buffer.concat(out).toString();
  const m = text.match(/RESULT g=(\d+) h=(\d+) other=(\d+) connect=(\d+) read=(\d+) write=(\d+) timeout=(\d+) status=(\d+)/);
  assert.ok(m, text);
  const [g, h, other, connect, read, wr, timeout] = m.slice(1).map(Number);
  assert.equal(other, 0, `unexpected answers: ${text}`);
  assert.deepEqual({ connect, read, write: wr, timeout }, { connect: 0, read: 0, write: 0, timeout: 0 }, text);
  assert.ok(g > 20 && h > 20, `both generations answered: ${text}`);
  assert.equal(await verdict(), 'rule G', 'the last reload wins');
});

test('atriumd --check-workflows reports file:line for every broken script and accepts the shipped examples', () => {
  const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'atrium-wfcheck-'));
  fs.writeFileSync(path.join(bad, '10-syntax.lua'), 'atrium.on("appointment.before_book", function(ev)\n  if ev then\nend)\n');
  fs.writeFileSync(path.join(bad, '20-event.lua'), '-- unknown event\n\natrium.on("appointment.before_boook", function() end)\n');
  fs.writeFileSync(path.join(bad, '30-fine.lua'), 'atrium.on("appointment.after_book", function() end)\n');
  fs.writeFileSync(path.join(bad, '.hidden.lua'), 'this is not lua\n');
  let r = runCli(['--config', d.config, '--check-workflows', bad]);
  assert.notEqual(r.status, 0);
  const lines = r.stderr.split('\n').filter((l) => /\.lua:/.test(l));
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0], /^10-syntax\.lua:3: /);
  assert.match(lines[1], /^20-event\.lua:3: .*unknown event 'appointment\.before_boook'/);
  fs.rmSync(bad, { recursive: true });

  // The shipped examples, with the scheduling plugin on so their events
  // are really checked.
  r = runCli(['--config', d.config, '--check-workflows', path.join(ROOT, 'config', 'workflows')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /workflow scripts ok/);
});
