// Two-step sign-in: enrolment (URI, QR), confirmation (recovery codes,
// session token rotation), sign-in with codes, replay refusal, single-use
// recovery codes, throttling of wrong codes, turning it off, and the
// enrolment gate for roles that must have it (here: staff).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const lib = require('./lib.js');

let d;
test.before(async () => {
  d = await lib.startDaemon({ config: { auth: { totp_staff: 'on', lockout_threshold: 3 } } });
});
test.after(() => d && d.stop());

const PW = (u) => d.demo.accounts[u];
const step = () => Math.floor(Date.now() / 1000 / 30);

function login(username, totp) {
  const body = { username, password: PW(username) };
  if (totp !== undefined) body.totp = totp;
  return lib.request(d, 'POST', '/api/auth/login', { body });
}

// Signs in with the next code the server has not seen (it keeps the last
// accepted step and takes now-1..now+1).
async function loginTotp(username, secret) {
  const last = Number(lib.sqlite(d.dbPath, `SELECT totp_last_step FROM users WHERE username = '${username}'`));
  while (last + 1 > step() + 1) await new Promise((r) => setTimeout(r, 1000));
  const s = Math.max(last + 1, step() - 1);
  const c = new lib.Client(d);
  const r = await c.login(username, PW(username), lib.totp(secret, s * 30));
  assert.equal(r.status, 200, r.body);
  return c;
}

async function enrol(c) {
  const r = await c.post('/api/auth/totp/enroll', {});
  assert.equal(r.status, 200, r.body);
  return r.json;
}

const state = {};

test('enrolment returns a secret, its otpauth URI and an SVG QR code, not yet active', async () => {
  const c = await lib.loginAs(d, 'patient.demo');
  const e = await enrol(c);
  assert.match(e.secret, /^[A-Z2-7]{32}$/);
  const uri = new URL(e.otpauth_uri);
  assert.equal(uri.protocol, 'otpauth:');
  assert.equal(uri.searchParams.get('secret'), e.secret);
  assert.equal(uri.searchParams.get('issuer'), 'Atrium Practice');
  assert.match(decodeURIComponent(uri.pathname), /Atrium Practice:patient\.demo$/);
  assert.match(e.qr_svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(e.qr_svg, /<path /);
  // Pending only: signing in still needs no code.
  assert.equal((await login('patient.demo')).status, 200);
  assert.equal(lib.sqlite(d.dbPath, "SELECT totp_enabled FROM users WHERE username = 'patient.demo'"), '0');
  state.client = c;
  state.secret = e.secret;
});

test('confirmation checks a code, returns 10 recovery codes once and rotates the session token', async () => {
  const c = state.client;
  let r = await c.post('/api/auth/totp/confirm', { code: lib.totp(state.secret, (step() + 5) * 30) });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'invalid_code');
  const oldCookie = c.cookie;
  const oldCsrf = c.csrf;
  state.confirmStep = step();
  r = await c.post('/api/auth/totp/confirm', { code: lib.totp(state.secret, state.confirmStep * 30) });
  assert.equal(r.status, 200, r.body);
  const codes = r.json.recovery_codes;
  assert.equal(codes.length, 10);
  assert.equal(new Set(codes).size, 10);
  for (const k of codes) assert.match(k, /^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$/);
  assert.notEqual(c.cookie, oldCookie, 'session token not rotated');
  assert.notEqual(c.csrf, oldCsrf);
  assert.equal((await lib.request(d, 'GET', '/api/auth/me', { headers: { Cookie: oldCookie } })).status, 401);
  assert.equal((await c.get('/api/auth/me')).status, 200);
  // Only hashes are stored.
  const stored = lib.sqlite(d.dbPath, `SELECT code_hash FROM recovery_codes WHERE user_id = ${c.user.id}`).split('\n');
  assert.equal(stored.length, 10);
  for (const k of codes) {
    assert.ok(!stored.includes(k));
    assert.ok(stored.includes(crypto.createHash('sha256').update(k.replace(/-/g, '')).digest('hex')));
  }
  assert.equal(lib.sqlite(d.dbPath, `SELECT totp_enabled FROM users WHERE id = ${c.user.id}`), '1');
  state.codes = codes;
  // Enrolling again while it is on is refused.
  assert.equal((await c.post('/api/auth/totp/enroll', {})).status, 409);
});

test('sign-in then needs a code; the code used at confirmation and used codes cannot be replayed', async () => {
  let r = await login('patient.demo');
  assert.equal(r.status, 401);
  assert.equal(r.json.error.code, 'totp_required');
  r = await login('patient.demo', lib.totp(state.secret, state.confirmStep * 30));
  assert.equal(r.status, 401, 'the confirmation code was replayed at sign-in');
  assert.equal(r.json.error.code, 'invalid_credentials');
  const next = lib.totp(state.secret, (state.confirmStep + 1) * 30);
  r = await login('patient.demo', next);
  assert.equal(r.status, 200, r.body);
  r = await login('patient.demo', next);
  assert.equal(r.status, 401, 'a used code was accepted twice');
});

test('a recovery code signs in once, typed in any case and without dashes', async () => {
  const code = state.codes[0];
  let r = await login('patient.demo', code.toUpperCase().replace(/-/g, ''));
  assert.equal(r.status, 200, r.body);
  r = await login('patient.demo', code);
  assert.equal(r.status, 401, 'a recovery code worked twice');
  assert.equal(lib.sqlite(d.dbPath, "SELECT COUNT(*) FROM recovery_codes r JOIN users u ON u.id = r.user_id WHERE u.username = 'patient.demo' AND used_at IS NOT NULL"), '1');
  r = await login('patient.demo', state.codes[1]);
  assert.equal(r.status, 200);
});

test('turning TOTP off needs the password, and then sign-in needs no code', async () => {
  const c = new lib.Client(d);
  assert.equal((await c.login('patient.demo', PW('patient.demo'), state.codes[2])).status, 200);
  let r = await c.post('/api/auth/totp/disable', { password: 'not my password at all' });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'invalid_credentials');
  r = await c.post('/api/auth/totp/disable', { password: PW('patient.demo') });
  assert.equal(r.status, 204);
  assert.equal((await login('patient.demo')).status, 200);
  assert.equal(lib.sqlite(d.dbPath, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = ${c.user.id}`), '0');
  assert.equal(lib.sqlite(d.dbPath, `SELECT totp_secret IS NULL FROM users WHERE id = ${c.user.id}`), '1');
});

test('wrong codes are throttled like wrong passwords', async () => {
  const c = await lib.loginAs(d, 'patient2.demo');
  const e = await enrol(c);
  const s = step();
  assert.equal((await c.post('/api/auth/totp/confirm', { code: lib.totp(e.secret, s * 30) })).status, 200);
  for (let i = 0; i < 3; i++) {
    const r = await login('patient2.demo', lib.totp(e.secret, (s + 10 + i) * 30));
    assert.equal(r.status, 401);
  }
  const r = await login('patient2.demo', lib.totp(e.secret, (s + 1) * 30));
  assert.equal(r.status, 429);
  assert.ok(Number(r.headers['retry-after']) >= 1);
  lib.sqlite(d.dbPath, 'DELETE FROM login_throttle');
});

test('staff must enrol before doing anything else, and cannot turn TOTP off', async () => {
  const c = new lib.Client(d);
  let r = await c.login('staff.demo', PW('staff.demo'));
  assert.equal(r.status, 200);
  assert.equal(r.json.must_enroll_totp, true);
  r = await c.get('/api/patients');
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, 'totp_enrollment_required');
  assert.equal((await c.get('/api/auth/sessions')).status, 200);
  const e = await enrol(c);
  r = await c.post('/api/auth/totp/confirm', { code: lib.totp(e.secret) });
  assert.equal(r.status, 200);
  assert.equal((await c.get('/api/patients')).status, 200);
  assert.equal((await c.get('/api/auth/me')).json.must_enroll_totp, false);
  r = await c.post('/api/auth/totp/disable', { password: PW('staff.demo') });
  assert.equal(r.status, 403);
  state.staffSecret = e.secret;
});

test('an admin reset removes TOTP and ends the account\'s sessions; the account must enrol again', async () => {
  const staff = await loginTotp('staff.demo', state.staffSecret);
  const admin = await lib.loginAs(d, 'admin.demo');
  const r = await admin.post(`/api/admin/users/${staff.user.id}/reset-totp`, {});
  assert.equal(r.status, 200);
  assert.equal(r.json.user.totp_enabled, false);
  assert.equal((await staff.get('/api/auth/me')).status, 401);
  const again = await login('staff.demo');
  assert.equal(again.status, 200);
  assert.equal(again.json.must_enroll_totp, true);
  // Admins cannot turn their own TOTP off either.
  const off = await admin.post('/api/auth/totp/disable', { password: PW('admin.demo') });
  assert.equal(off.status, 403);
});
