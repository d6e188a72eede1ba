// A user's own account: listing and ending sessions, and changing the
// password (re-entered, policy-checked, other sessions ended, this
// session's token rotated).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const lib = require('./lib.js');

let d;
test.before(async () => {
  d = await lib.startDaemon({ config: { auth: { lockout_threshold: 3 } } });
});
test.after(() => d && d.stop());

const PW = (u) => d.demo.accounts[u];
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

test('the session list shows the caller\'s live sessions with the current one marked', async () => {
  const a = await lib.loginAs(d, 'physician.demo');
  const b = await lib.loginAs(d, 'physician.demo');
  const r = await a.get('/api/auth/sessions');
  assert.equal(r.status, 200);
  const list = r.json.sessions;
  assert.equal(list.length, 2);
  for (const s of list) {
    assert.equal(typeof s.id, 'number');
    assert.match(s.created_at, RFC3339);
    assert.match(s.last_seen_at, RFC3339);
    assert.equal(s.client, '127.0.0.1');
    assert.equal(typeof s.current, 'boolean');
  }
  assert.equal(list.filter((s) => s.current).length, 1);
  const bList = (await b.get('/api/auth/sessions')).json.sessions;
  assert.notEqual(list.find((s) => s.current).id, bList.find((s) => s.current).id);
});

test('ending one of my sessions signs that browser out; an unknown id is 404', async () => {
  const a = await lib.loginAs(d, 'staff.demo');
  const b = await lib.loginAs(d, 'staff.demo');
  const bId = (await b.get('/api/auth/sessions')).json.sessions.find((s) => s.current).id;
  let r = await a.del(`/api/auth/sessions/${bId}`);
  assert.equal(r.status, 204);
  assert.equal((await b.get('/api/auth/me')).status, 401);
  assert.equal((await a.get('/api/auth/me')).status, 200);
  r = await a.del(`/api/auth/sessions/${bId}`);
  assert.equal(r.status, 404, 'already ended');
  for (const bad of ['0', 'abc', '-1', '1e3', '99999999999999999999']) {
    assert.equal((await a.del(`/api/auth/sessions/${bad}`)).status, 404, bad);
  }
  // Ending the current session clears the cookie.
  const mine = (await a.get('/api/auth/sessions')).json.sessions.find((s) => s.current).id;
  r = await a.del(`/api/auth/sessions/${mine}`);
  assert.equal(r.status, 204);
  assert.match(r.headers['set-cookie'].join('\n'), /atrium_session=;/);
  assert.equal((await a.get('/api/auth/me')).status, 401);
  assert.ok(lib.sqlite(d.dbPath, "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.session_revoke'") >= 2);
});

test('a password change needs the current password and a policy-passing new one', async () => {
  const c = await lib.loginAs(d, 'patient.demo');
  let r = await c.post('/api/auth/password', { current_password: 'wrong wrong wrong', new_password: 'a brand new long passphrase' });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'invalid_credentials');
  assert.equal(r.json.error.field, 'current_password');
  for (const weak of ['short', 'password1234', 'patient.demo-is-me', 'aaaaaaaaaaaaaaaa']) {
    r = await c.post('/api/auth/password', { current_password: PW('patient.demo'), new_password: weak });
    assert.equal(r.status, 400, weak);
    assert.equal(r.json.error.code, 'weak_password', weak);
    assert.equal(r.json.error.field, 'new_password');
  }
  r = await c.post('/api/auth/password', { current_password: PW('patient.demo'), new_password: PW('patient.demo') });
  assert.equal(r.status, 400);
  // Nothing changed.
  assert.equal((await lib.request(d, 'POST', '/api/auth/login', { body: { username: 'patient.demo', password: PW('patient.demo') } })).status, 200);
});

test('a password change ends the user\'s other sessions and rotates this one\'s token', async () => {
  const other = await lib.loginAs(d, 'patient2.demo');
  const c = await lib.loginAs(d, 'patient2.demo');
  const oldCookie = c.cookie;
  const oldCsrf = c.csrf;
  const fresh = 'kettle orchard lantern 1987 blue';
  const r = await c.post('/api/auth/password', { current_password: PW('patient2.demo'), new_password: fresh });
  assert.equal(r.status, 200, r.body);
  assert.match(r.json.csrf_token, /^[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(Object.keys(r.json), ['csrf_token']);
  assert.notEqual(c.cookie, oldCookie);
  assert.notEqual(c.csrf, oldCsrf);
  assert.equal((await other.get('/api/auth/me')).status, 401, 'other session survived');
  assert.equal((await lib.request(d, 'GET', '/api/auth/me', { headers: { Cookie: oldCookie } })).status, 401);
  assert.equal((await c.get('/api/auth/me')).status, 200);
  // The new CSRF token works for unsafe requests.
  assert.equal((await c.del('/api/auth/sessions/999999')).status, 404);
  const login = (pw) => lib.request(d, 'POST', '/api/auth/login', { body: { username: 'patient2.demo', password: pw } });
  assert.equal((await login(PW('patient2.demo'))).status, 401);
  assert.equal((await login(fresh)).status, 200);
  assert.equal(lib.sqlite(d.dbPath, "SELECT outcome FROM audit_log WHERE action = 'account.password_change' ORDER BY id DESC LIMIT 1"), 'ok');
});

test('guessing the current password through a stolen session is throttled', async () => {
  const c = await lib.loginAs(d, 'physician2.demo');
  for (let i = 0; i < 3; i++) {
    const r = await c.post('/api/auth/password', { current_password: `guess ${i}`, new_password: 'some other long phrase' });
    assert.equal(r.status, 400);
  }
  const r = await c.post('/api/auth/password', { current_password: PW('physician2.demo'), new_password: 'some other long phrase' });
  assert.equal(r.status, 429);
  assert.ok(r.headers['retry-after']);
});
