// Signing in and out: cookie attributes, the token kept out of the
// database, logout, CSRF, throttling and lockout (per name, also for names
// with no account; device cookies), and the generic error for unknown users.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const lib = require('./lib.js');

const PW = (u) => d.demo.accounts[u];

let d; // lockout_threshold 3
test.before(async () => {
  d = await lib.startDaemon({ config: { auth: { lockout_threshold: 3 } } });
});
test.after(() => d && d.stop());

function cookieValue(r, name) {
  for (const c of r.headers['set-cookie'] || []) {
    const m = c.match(new RegExp(`^${name}=([^;]*)`));
    if (m) return m[1];
  }
  return null;
}

function login(username, password, headers = {}) {
  return lib.request(d, 'POST', '/api/auth/login', {
    body: { username, password }, headers: { Origin: d.url, ...headers },
  });
}

test('the session cookie is HttpOnly, SameSite=Strict, Path=/ and not Secure over http', async () => {
  const r = await login('patient.demo', PW('patient.demo'));
  assert.equal(r.status, 200);
  const c = r.headers['set-cookie'].find((s) => s.startsWith('atrium_session='));
  assert.ok(c, 'no atrium_session cookie');
  const attrs = c.split(';').map((s) => s.trim());
  assert.ok(attrs.includes('HttpOnly'));
  assert.ok(attrs.includes('SameSite=Strict'));
  assert.ok(attrs.includes('Path=/'));
  assert.ok(!attrs.some((a) => /^secure$/i.test(a)), 'Secure on plain http');
  assert.ok(!attrs.some((a) => /^domain=/i.test(a)));
  assert.match(cookieValue(r, 'atrium_session'), /^[A-Za-z0-9_-]{43}$/);
  assert.match(r.json.csrf_token, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(r.json.user.username, 'patient.demo');
  assert.equal(r.json.user.password_hash, undefined);
});

test('neither the session token nor the CSRF token is stored in the database, only hashes', async () => {
  const r = await login('patient2.demo', PW('patient2.demo'));
  const token = cookieValue(r, 'atrium_session');
  const csrf = r.json.csrf_token;
  const files = ['', '-wal', '-shm'].map((s) => d.dbPath + s).filter((f) => fs.existsSync(f));
  const all = Buffer.concat(files.map((f) => fs.readFileSync(f)));
  assert.equal(all.indexOf(token), -1, 'session token found in the database files');
  assert.equal(all.indexOf(csrf), -1, 'csrf token found in the database files');
  const hash = crypto.createHash('sha256').update(token).digest('hex');
  assert.equal(lib.sqlite(d.dbPath, `SELECT COUNT(*) FROM sessions WHERE token_hash = '${hash}'`), '1');
});

test('logout ends the session: the old cookie is then 401', async () => {
  const c = await lib.loginAs(d, 'staff.demo');
  const old = c.cookie;
  assert.equal((await c.get('/api/auth/me')).status, 200);
  const r = await c.post('/api/auth/logout', {});
  assert.equal(r.status, 204);
  assert.match(r.headers['set-cookie'].join('\n'), /atrium_session=;[^\n]*Max-Age=0/);
  const again = await lib.request(d, 'GET', '/api/auth/me', { headers: { Cookie: old } });
  assert.equal(again.status, 401);
  assert.equal(again.json.error.code, 'unauthenticated');
});

test('signing in again from the same browser ends its previous session', async () => {
  const c = await lib.loginAs(d, 'physician.demo');
  const first = c.cookie;
  const r = await c.login('physician.demo', PW('physician.demo'));
  assert.equal(r.status, 200);
  assert.notEqual(c.cookie, first);
  assert.equal((await lib.request(d, 'GET', '/api/auth/me', { headers: { Cookie: first } })).status, 401);
  assert.equal((await c.get('/api/auth/me')).status, 200);
});

test('CSRF: unsafe requests need the token and a same-origin Origin or Referer', async () => {
  const c = await lib.loginAs(d, 'patient.demo');
  const p = '/api/auth/sessions/999999';
  // With token and Origin the request reaches the handler (404: no such session).
  assert.equal((await c.del(p)).status, 404);
  const cases = [
    ['no token', { 'X-CSRF-Token': null }],
    ['wrong token', { 'X-CSRF-Token': 'A'.repeat(43) }],
    ['foreign Origin', { Origin: 'http://evil.example' }],
    ['look-alike Origin', { Origin: `${d.url}.evil.example` }],
    ['https Origin on http', { Origin: d.url.replace('http:', 'https:') }],
    ['no Origin and no Referer', { Origin: null }],
    ['foreign Referer', { Origin: null, Referer: 'http://evil.example/page' }],
  ];
  for (const [name, h] of cases) {
    const r = await c.del(p, h);
    assert.equal(r.status, 403, name);
    assert.equal(r.json.error.code, 'csrf', name);
  }
  const viaReferer = await c.del(p, { Origin: null, Referer: `${d.url}/app/settings` });
  assert.equal(viaReferer.status, 404, 'same-origin Referer should pass');
  // The session survived all of it.
  assert.equal((await c.get('/api/auth/me')).status, 200);
});

test('an anonymous sign-in from a foreign Origin is refused', async () => {
  const r = await login('patient.demo', PW('patient.demo'), { Origin: 'http://evil.example' });
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, 'csrf');
});

test('wrong password, unknown user and locked account give the same 401', async () => {
  const wrong = await login('staff.demo', 'not the password at all');
  const unknown = await login('no.such.user', 'not the password at all');
  assert.equal(wrong.status, 401);
  assert.equal(unknown.status, 401);
  assert.equal(wrong.body, unknown.body);
  assert.equal(wrong.json.error.code, 'invalid_credentials');
  lib.sqlite(d.dbPath, "UPDATE users SET locked = 1 WHERE username = 'physician2.demo'");
  const locked = await login('physician2.demo', PW('physician2.demo'));
  lib.sqlite(d.dbPath, "UPDATE users SET locked = 0 WHERE username = 'physician2.demo'");
  lib.sqlite(d.dbPath, "DELETE FROM login_throttle");
  assert.equal(locked.status, 401);
  assert.equal(locked.body, wrong.body);
});

test('after 3 failures a name is throttled with Retry-After, growing exponentially', async () => {
  const name = 'staff.demo';
  lib.sqlite(d.dbPath, 'DELETE FROM login_throttle');
  for (let i = 0; i < 3; i++) assert.equal((await login(name, `wrong-${i}`)).status, 401);
  let r = await login(name, PW(name));
  assert.equal(r.status, 429, 'even the right password waits');
  assert.equal(r.json.error.code, 'too_many_attempts');
  assert.equal(r.headers['retry-after'], '1');
  await new Promise((res) => setTimeout(res, 1100));
  assert.equal((await login(name, 'wrong-again')).status, 401);
  r = await login(name, PW(name));
  assert.equal(r.status, 429);
  assert.equal(r.headers['retry-after'], '2');
  await new Promise((res) => setTimeout(res, 2100));
  r = await login(name, PW(name));
  assert.equal(r.status, 200, 'the delay ends');
  assert.equal(lib.sqlite(d.dbPath, "SELECT COUNT(*) FROM login_throttle WHERE key = 'user:staff.demo'"), '0');
});

test('the delay is capped at 15 minutes', async () => {
  lib.sqlite(d.dbPath, `INSERT OR REPLACE INTO login_throttle (key, failures, throttled_until, last_failure_at) VALUES ('user:patient2.demo', 500, 0, ${Math.floor(Date.now() / 1000)})`);
  assert.equal((await login('patient2.demo', 'wrong')).status, 401);
  const r = await login('patient2.demo', PW('patient2.demo'));
  assert.equal(r.status, 429);
  const ra = Number(r.headers['retry-after']);
  assert.ok(ra > 890 && ra <= 900, `Retry-After ${ra}`);
  lib.sqlite(d.dbPath, 'DELETE FROM login_throttle');
});

test('unknown names are throttled exactly like real ones', async () => {
  lib.sqlite(d.dbPath, 'DELETE FROM login_throttle');
  const real = [];
  const ghost = [];
  for (let i = 0; i < 4; i++) {
    real.push(await login('physician.demo', `wrong-${i}`));
    ghost.push(await login('Nobody.At.All', `wrong-${i}`));
  }
  assert.deepEqual(real.map((r) => r.status), [401, 401, 401, 429]);
  assert.deepEqual(ghost.map((r) => r.status), [401, 401, 401, 429]);
  assert.equal(real[3].body, ghost[3].body);
  assert.equal(real[3].headers['retry-after'], ghost[3].headers['retry-after']);
  // Names are compared without case, like accounts.
  assert.equal((await login('nobody.at.all', 'x')).status, 429);
  assert.equal(lib.sqlite(d.dbPath, "SELECT failures FROM login_throttle WHERE key = 'user:nobody.at.all'"), '3');
  lib.sqlite(d.dbPath, 'DELETE FROM login_throttle');
});

test('a stranger\'s failures do not lock the owner out of a browser that signed in before', async () => {
  lib.sqlite(d.dbPath, 'DELETE FROM login_throttle');
  const first = await login('patient.demo', PW('patient.demo'));
  const device = cookieValue(first, 'atrium_device');
  assert.match(device, /^[A-Za-z0-9_-]{43}$/);
  for (let i = 0; i < 3; i++) await login('patient.demo', `guess-${i}`);
  assert.equal((await login('patient.demo', PW('patient.demo'))).status, 429);
  // A persistent stranger has earned a long delay (so the checks below do
  // not race the first, 1-second one).
  lib.sqlite(d.dbPath, `UPDATE login_throttle SET throttled_until = ${Date.now() + 60000} WHERE key = 'user:patient.demo'`);
  const owner = await login('patient.demo', PW('patient.demo'), { Cookie: `atrium_device=${device}` });
  assert.equal(owner.status, 200, 'owner locked out by a stranger');
  // The device token rotates, and the old one is no longer honoured.
  const next = cookieValue(owner, 'atrium_device');
  assert.notEqual(next, device);
  assert.equal((await login('patient.demo', PW('patient.demo'), { Cookie: `atrium_device=${device}` })).status, 429);
  // A device cookie of another account does not help a stranger.
  const other = await login('patient2.demo', PW('patient2.demo'));
  const foreign = cookieValue(other, 'atrium_device');
  assert.equal((await login('patient.demo', PW('patient.demo'), { Cookie: `atrium_device=${foreign}` })).status, 429);
  lib.sqlite(d.dbPath, 'DELETE FROM login_throttle');
});

test('failed and successful sign-ins are audited without the password', async () => {
  await login('staff.demo', 'a-secret-wrong-password');
  const rows = lib.sqlite(d.dbPath, "SELECT username || '|' || outcome FROM audit_log WHERE action = 'auth.login'").split('\n');
  assert.ok(rows.includes('staff.demo|bad_password'));
  assert.ok(rows.includes('staff.demo|ok'));
  assert.ok(rows.includes('no.such.user|bad_password'));
  assert.ok(rows.includes('staff.demo|throttled'));
  assert.equal(lib.sqlite(d.dbPath, "SELECT COUNT(*) FROM audit_log WHERE object_id LIKE '%a-secret%' OR username LIKE '%a-secret%' OR outcome LIKE '%a-secret%'"), '0');
  assert.ok(!d.stderr.includes('a-secret-wrong-password'));
});

test('unknown user and wrong password take similar time', async () => {
  const t = await lib.startDaemon({ config: { auth: { lockout_threshold: 1000 } } });
  try {
    const time = async (username) => {
      const t0 = process.hrtime.bigint();
      const r = await lib.request(t, 'POST', '/api/auth/login', { body: { username, password: 'wrong password here' } });
      assert.equal(r.status, 401);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    await time('physician.demo'); // warm-up (builds the dummy hash)
    await time('ghost.user');
    const known = [];
    const unknown = [];
    for (let i = 0; i < 9; i++) {
      known.push(await time('physician.demo'));
      unknown.push(await time(`ghost.user.${i}`));
    }
    const median = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const k = median(known);
    const u = median(unknown);
    assert.ok(k / u < 3 && u / k < 3, `known ${k.toFixed(1)} ms vs unknown ${u.toFixed(1)} ms`);
  } finally {
    await t.stop();
  }
});
