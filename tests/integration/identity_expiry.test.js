// Session lifetimes enforced by the server, with short timeouts: the idle
// timeout (per role) ends a quiet session, activity keeps it alive, and the
// absolute timeout ends even a busy one.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const lib = require('./lib.js');

const IDLE_PATIENT = 10;
const IDLE_STAFF = 30;
const ABSOLUTE = 14;

let d;
test.before(async () => {
  d = await lib.startDaemon({
    config: {
      auth: {
        idle_timeout_patient: IDLE_PATIENT, idle_timeout_staff: IDLE_STAFF,
        absolute_timeout: ABSOLUTE,
      },
    },
  });
});
test.after(() => d && d.stop());

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function idle() {
  const c = await lib.loginAs(d, 'patient.demo');
  const r = await c.get('/api/auth/me');
  assert.equal(r.json.idle_timeout_seconds, IDLE_PATIENT);
  await sleep((IDLE_PATIENT + 1.5) * 1000);
  return (await c.get('/api/auth/me')).status;
}

async function busyPatient() {
  const c = await lib.loginAs(d, 'patient2.demo');
  const statuses = [];
  const t0 = Date.now();
  while (Date.now() - t0 < 12000) {
    statuses.push((await c.get('/api/auth/me')).status);
    await sleep(2000);
  }
  return statuses;
}

async function absolute() {
  const c = await lib.loginAs(d, 'staff.demo');
  const cookie = c.cookie;
  const r = await c.get('/api/auth/me');
  assert.equal(r.json.idle_timeout_seconds, IDLE_STAFF);
  const t0 = Date.now();
  let last = 200;
  while (Date.now() - t0 < (ABSOLUTE + 1.5) * 1000) {
    last = (await lib.request(d, 'GET', '/api/auth/me', { headers: { Cookie: cookie } })).status;
    await sleep(2000);
  }
  return last;
}

test('idle sessions end, active ones stay, and every session ends at the absolute timeout', async () => {
  const [idleStatus, busy, absStatus] = await Promise.all([idle(), busyPatient(), absolute()]);
  assert.equal(idleStatus, 401, 'an idle patient session should have ended');
  assert.ok(busy.length >= 5);
  assert.ok(busy.every((s) => s === 200), `busy session ended early: ${busy}`);
  assert.equal(absStatus, 401, 'the absolute timeout did not end a busy session');
});

test('the session cookie lives no longer than the absolute timeout', async () => {
  const c = new lib.Client(d);
  const r = await c.login('patient.demo', d.demo.accounts['patient.demo']);
  const set = r.headers['set-cookie'].find((s) => s.startsWith('atrium_session='));
  assert.match(set, new RegExp(`Max-Age=${ABSOLUTE}(;|$)`));
});

test('an expired session is not listed among the user\'s sessions', async () => {
  const old = await lib.loginAs(d, 'physician.demo');
  lib.sqlite(d.dbPath, `UPDATE sessions SET expires_at = ${Math.floor(Date.now() / 1000) - 1} WHERE id = (SELECT MAX(id) FROM sessions)`);
  assert.equal((await old.get('/api/auth/me')).status, 401);
  const now = await lib.loginAs(d, 'physician.demo');
  const list = (await now.get('/api/auth/sessions')).json.sessions;
  assert.equal(list.length, 1);
  assert.equal(list[0].current, true);
});
