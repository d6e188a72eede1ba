// Timed workflow jobs on the core's job runner, and a practice that sets the
// engine to fail closed. The daemon runs with a 400 ms time limit and an
// instruction budget too large to matter, so a runaway job is stopped by
// the clock; [workflows] fail_closed = on, so a failing handler of a
// non-clinical before_ event (notification.before_send) denies.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { startDaemon, loginAs, request } = require('./lib');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TZ = 'Asia/Tokyo'; // UTC+9 all year: daily times are easy to predict
let d, admin, uid;

function sql(q) {
  const r = spawnSync('sqlite3', ['-cmd', '.timeout 5000', d.dbPath, q], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('sqlite3: ' + r.stderr);
  return r.stdout.trim();
}

async function rules(files) {
  const dir = path.join(d.dir, 'workflows');
  for (const f of fs.readdirSync(dir)) fs.unlinkSync(path.join(dir, f));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const r = await admin.post('/api/admin/workflows/reload');
  assert.equal(r.status, 200, r.body);
}

const rows = (kind) => sql(`SELECT created_at || ' ' || data FROM outbox WHERE kind = '${kind}' ORDER BY id`)
  .split('\n').filter(Boolean).map((l) => {
    const [t, ...rest] = l.split(' ');
    return { t: Number(t), data: JSON.parse(rest.join(' ')) };
  });

before(async () => {
  d = await startDaemon({
    config: {
      practice: { timezone: TZ },
      workflows: { instructions: 1000000000, deadline_ms: 400, fail_closed: 'on' },
    },
  });
  admin = await loginAs(d, 'admin.demo');
  uid = Number(sql("SELECT id FROM users WHERE username = 'patient.demo'"));
});
after(() => d && d.stop());

test('atrium.every(1, fn) calling atrium.notify queues about one notification a second, never two in one second', async () => {
  await rules({
    'tick.lua': `
      local n = 0
      atrium.every(1, function()
        n = n + 1
        atrium.notify{ user_id = ${uid}, kind = "wf_tick", data = { n = n } }
      end)`,
  });
  const t0 = Date.now();
  await sleep(4200);
  await rules({});
  const secs = (Date.now() - t0) / 1000;
  const got = rows('wf_tick');
  assert.ok(got.length >= secs - 2 && got.length <= secs + 1, `${got.length} runs in ${secs.toFixed(1)} s`);
  got.forEach((r, i) => assert.equal(r.data.n, i + 1, 'runs are sequential in one state'));
  for (let i = 1; i < got.length; i++) {
    const gap = got[i].t - got[i - 1].t;
    assert.ok(gap >= 1 && gap <= 2, `gap of ${gap} s between runs ${i} and ${i + 1}`);
  }
});

test('a job busy past its time limit is stopped, logged, and runs again; runs never overlap', async () => {
  await rules({
    'slow.lua': `
      local n = 0
      atrium.every(1, function()
        n = n + 1
        atrium.notify{ user_id = ${uid}, kind = "wf_slow", data = { n = n, started = atrium.now() } }
        while true do end
      end)`,
  });
  const t0 = Date.now();
  const probes = [];
  while (Date.now() - t0 < 4000) {
    const t = Date.now();
    assert.equal((await request(d, 'GET', '/healthz')).status, 200);
    probes.push(Date.now() - t);
    await sleep(100);
  }
  const st = (await admin.get('/api/admin/workflows')).json;
  await rules({});
  for (const ms of probes) assert.ok(ms < 1000, `/healthz took ${ms} ms while the job ran`);
  const got = rows('wf_slow');
  // Each run lasts 0.4 s and the next starts at the runner's next tick
  // after it: at least one second apart, the same state counting up.
  assert.ok(got.length >= 2 && got.length <= 5, `${got.length} runs in 4 s`);
  got.forEach((r, i) => assert.equal(r.data.n, i + 1));
  for (let i = 1; i < got.length; i++) assert.ok(got[i].t - got[i - 1].t >= 1, 'two runs started in the same second');
  const failures = st.errors.filter((e) => /^slow\.lua:\d+: .*time limit exceeded \(400 ms\)/.test(e.message));
  assert.ok(failures.length >= got.length - 1, st.errors.map((e) => e.message).join('\n'));
  const job = st.jobs.find((j) => j.file === 'slow.lua');
  assert.ok(job && job.last_run, JSON.stringify(st.jobs));
});

test('atrium.daily("03:00") is scheduled for the next 03:00 on the practice clock', async () => {
  await rules({ 'daily.lua': 'atrium.daily("03:00", function() atrium.log("daily") end)' });
  const st = (await admin.get('/api/admin/workflows')).json;
  const job = st.jobs.find((j) => j.file === 'daily.lua');
  assert.ok(job, JSON.stringify(st.jobs));
  const now = Date.now();
  const tokyo = new Date(now + 9 * 3600e3);
  let next = Date.UTC(tokyo.getUTCFullYear(), tokyo.getUTCMonth(), tokyo.getUTCDate(), 3, 0) - 9 * 3600e3;
  if (next <= now) next += 86400e3;
  assert.equal(Date.parse(job.next_run), next, job.next_run);
  await rules({});
});

test('with fail_closed on, a failing notification.before_send handler suppresses the notification', async () => {
  await rules({
    'broken.lua': `
      atrium.on("notification.before_send", function(ev)
        if ev.ref == "wf-ok" then return end
        error("broken rule")
      end)`,
  });
  const queue = (ref) => Number(sql(
    'INSERT INTO outbox (user_id, kind, ref, data, source, not_before, created_at, idempotency_key) ' +
    `VALUES (${uid}, 'wf_probe', '${ref}', '{}', 'test', strftime('%s','now'), strftime('%s','now'), ` +
    `'${crypto.randomBytes(24).toString('hex')}') RETURNING id`));
  const broken = queue('wf-broken');
  const fine = queue('wf-ok');
  const status = (id) => sql(`SELECT status FROM outbox WHERE id = ${id}`);
  for (let i = 0; i < 100 && (status(broken) === 'queued' || status(fine) === 'queued'); i++) await sleep(100);
  assert.equal(status(broken), 'suppressed');
  assert.match(sql(`SELECT last_error FROM notify_deliveries WHERE outbox_id = ${broken}`),
    /workflow rule: this action is not available right now/);
  assert.equal(status(fine), 'sent');
});

test('a failing user.login handler (an after-the-fact event) never blocks a sign-in', async () => {
  await rules({ 'login.lua': 'atrium.on("user.login", function(ev) error("broken login rule") end)' });
  const c = await loginAs(d, 'staff.demo');
  assert.equal((await c.get('/api/auth/me')).status, 200);
  const st = (await admin.get('/api/admin/workflows')).json;
  assert.match(st.errors[0].message, /^login\.lua:1: user\.login: .*broken login rule/);
});
