// Two tabs of one session share one CSRF token: asking /me in one tab (the
// "stay signed in" button) must not break the other tab's next POST. The
// token still changes when the session token does (password change).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const lib = require('./lib');

let d;
before(async () => { d = await lib.startDaemon({}); });
after(() => d.stop());

test('the CSRF token is stable across /me calls and survives a restart', async () => {
  const tab1 = await lib.loginAs(d, 'patient.demo');
  const first = tab1.csrf;
  const tab2 = new lib.Client(d);
  tab2.cookie = tab1.cookie;
  const me = await tab2.get('/api/auth/me');
  assert.equal(me.status, 200);
  assert.equal(me.json.csrf_token, first);
  // tab1 still uses the token it got at login
  const r = await tab1.post('/api/auth/logout', {});
  assert.equal(r.status, 204);
  // and a forged one is refused (fresh session)
  const c = await lib.loginAs(d, 'patient.demo');
  const bad = await c.post('/api/auth/logout', {}, { 'X-CSRF-Token': 'x'.repeat(43) });
  assert.equal(bad.status, 403);
  await d.restart();
  const again = await c.get('/api/auth/me');
  assert.equal(again.status, 200);
  assert.equal(again.json.csrf_token, c.csrf, 'the key survives a restart');
});

test('a password change gives the session a new CSRF token', async () => {
  const c = await lib.loginAs(d, 'patient2.demo');
  const before = c.csrf;
  const r = await c.post('/api/auth/password', {
    current_password: d.demo.accounts['patient2.demo'],
    new_password: 'a brand new passphrase for robin',
  });
  assert.equal(r.status, 200, r.body);
  assert.notEqual(r.json.csrf_token, before);
  assert.equal((await c.get('/api/auth/me')).json.csrf_token, r.json.csrf_token);
});
