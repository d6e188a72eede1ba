// Onboarding and administration: the care team creates patients and their
// activation codes, patients activate (single use, expiring, voided by a
// newer code, throttled), self-registration follows its switch, the admin
// creates staff accounts and locks, unlocks and resets them, and the care
// team searches patients.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const lib = require('./lib.js');

let d; // self-registration on
let off; // defaults: self-registration off
let staff;
let admin;
test.before(async () => {
  d = await lib.startDaemon({ config: { auth: { self_registration: 'on', lockout_threshold: 3 } } });
  off = await lib.startDaemon();
  staff = await lib.loginAs(d, 'staff.demo');
  admin = await lib.loginAs(d, 'admin.demo');
});
test.after(async () => { if (d) await d.stop(); if (off) await off.stop(); });

const PW = (u) => d.demo.accounts[u];
const CODE = /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;
const GOOD_PW = 'violet harbour 2041 quietly';

function activate(code, username, password = GOOD_PW) {
  return lib.request(d, 'POST', '/api/auth/activate', { body: { code, username, password } });
}

// Wrong codes count against the client address (all tests share one).
const forgetFailures = () => lib.sqlite(d.dbPath, "DELETE FROM login_throttle WHERE key LIKE 'activate:%'");

async function newPatient(name, extra = {}) {
  const r = await staff.post('/api/admin/patients', { display_name: name, ...extra });
  assert.equal(r.status, 201, r.body);
  return r.json;
}

test('staff create a patient and get a human-typable activation code; only its hash is stored', async () => {
  const r = await staff.post('/api/admin/patients', {
    display_name: 'Ada Lovelace', email: 'ada@example.test', date_of_birth: '1985-12-10',
  });
  assert.equal(r.status, 201, r.body);
  assert.equal(r.json.patient.display_name, 'Ada Lovelace');
  assert.equal(typeof r.json.patient.id, 'number');
  assert.match(r.json.activation_code, CODE);
  const exp = Date.parse(r.json.expires_at);
  assert.ok(Math.abs(exp - Date.now() - 72 * 3600e3) < 60e3, 'expires after activation_ttl_hours');
  const code = r.json.activation_code;
  const stored = lib.sqlite(d.dbPath, `SELECT code_hash FROM activation_codes WHERE user_id = ${r.json.patient.id}`);
  assert.equal(stored, crypto.createHash('sha256').update(code.replace(/-/g, '')).digest('hex'));
  assert.equal(lib.sqlite(d.dbPath, `SELECT username IS NULL FROM users WHERE id = ${r.json.patient.id}`), '1');
  const audit = lib.sqlite(d.dbPath, `SELECT role || '|' || action || '|' || patient_id FROM audit_log WHERE action = 'account.create' AND patient_id = ${r.json.patient.id}`);
  assert.equal(audit, `staff|account.create|${r.json.patient.id}`);
});

test('dates of birth and e-mail addresses are validated', async () => {
  const bad = [
    { date_of_birth: '1990-02-30' }, { date_of_birth: '1990-13-01' }, { date_of_birth: '1990-1-1' },
    { date_of_birth: '2999-01-01' }, { date_of_birth: '1899-12-31' }, { date_of_birth: 'yesterday' },
    { date_of_birth: '2001-02-29' }, { email: 'not-an-address' }, { email: 'a@b' }, { email: 'x y@example.test' },
  ];
  for (const extra of bad) {
    const r = await staff.post('/api/admin/patients', { display_name: 'Bad Input', ...extra });
    assert.equal(r.status, 400, JSON.stringify(extra));
    assert.equal(r.json.error.field, Object.keys(extra)[0]);
  }
  assert.equal((await staff.post('/api/admin/patients', { display_name: 'Leap Day', date_of_birth: '2000-02-29' })).status, 201);
  assert.equal((await staff.post('/api/admin/patients', { display_name: '' })).status, 400);
  assert.equal((await staff.post('/api/admin/patients', { display_name: 'x\u0007y' })).status, 400);
});

test('activation sets username and password once; the code is then spent', async () => {
  const p = await newPatient('Grace Hopper');
  // Typed loosely: lower case, spaces instead of dashes.
  const typed = p.activation_code.toLowerCase().replace(/-/g, ' ');
  const r = await activate(typed, 'grace.h');
  assert.equal(r.status, 201, r.body);
  assert.deepEqual(r.json.user, {
    id: p.patient.id, username: 'grace.h', display_name: 'Grace Hopper', role: 'patient', totp_enabled: false,
  });
  const again = await activate(p.activation_code, 'grace.other');
  assert.equal(again.status, 400);
  assert.equal(again.json.error.code, 'invalid_code');
  const c = new lib.Client(d);
  assert.equal((await c.login('grace.h', GOOD_PW)).status, 200);
  assert.equal(lib.sqlite(d.dbPath, `SELECT outcome FROM audit_log WHERE action = 'account.activate' AND user_id = ${p.patient.id}`), 'ok');
});

test('bad, expired and voided codes all get the same 400', async () => {
  forgetFailures();
  const wrong = await activate('ABCD-EFGH-JKMN-PQRS', 'someone.new');
  const malformed = await activate('nope', 'someone.new');
  const p = await newPatient('Expiring Patient');
  lib.sqlite(d.dbPath, `UPDATE activation_codes SET expires_at = ${Math.floor(Date.now() / 1000) - 1} WHERE user_id = ${p.patient.id}`);
  const expired = await activate(p.activation_code, 'someone.new');
  forgetFailures();
  const q = await newPatient('Reissued Patient');
  const second = await staff.post(`/api/admin/users/${q.patient.id}/activation-code`, {});
  assert.equal(second.status, 201);
  assert.match(second.json.activation_code, CODE);
  const voided = await activate(q.activation_code, 'someone.new');
  for (const r of [wrong, malformed, expired, voided]) {
    assert.equal(r.status, 400);
    assert.equal(r.body, wrong.body);
  }
  assert.equal((await activate(second.json.activation_code, 'reissued.p')).status, 201);
});

test('activation refuses a taken username and a weak password without spending the code', async () => {
  forgetFailures();
  const p = await newPatient('Careful Patient');
  let r = await activate(p.activation_code, 'patient.demo');
  assert.equal(r.status, 409);
  assert.equal(r.json.error.field, 'username');
  r = await activate(p.activation_code, 'careful.p', 'password1234');
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'weak_password');
  r = await activate(p.activation_code, 'bad name!');
  assert.equal(r.status, 400);
  assert.equal(r.json.error.field, 'username');
  r = await activate(p.activation_code, 'careful.p');
  assert.equal(r.status, 201);
});

test('codes are issued for patients only, and not for activated accounts', async () => {
  const staffId = staff.user.id;
  assert.equal((await staff.post(`/api/admin/users/${staffId}/activation-code`, {})).status, 404);
  assert.equal((await staff.post('/api/admin/users/999999/activation-code', {})).status, 404);
  const pid = (await lib.loginAs(d, 'patient.demo')).user.id;
  assert.equal((await staff.post(`/api/admin/users/${pid}/activation-code`, {})).status, 409);
  const phys = await lib.loginAs(d, 'physician.demo');
  const p = await newPatient('For Physician');
  assert.equal((await phys.post(`/api/admin/users/${p.patient.id}/activation-code`, {})).status, 201);
  assert.equal((await admin.post(`/api/admin/users/${p.patient.id}/activation-code`, {})).status, 201);
});

test('self-registration: 404 when off, 201 when on; privileged fields are refused', async () => {
  const body = { username: 'self.made', password: GOOD_PW, display_name: 'Self Made', email: 'self@example.test' };
  const r0 = await lib.request(off, 'POST', '/api/auth/register', { body });
  assert.equal(r0.status, 404);
  assert.equal(r0.json.error.code, 'not_found');
  let r = await lib.request(d, 'POST', '/api/auth/register', { body: { ...body, role: 'admin' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.field, 'role');
  r = await lib.request(d, 'POST', '/api/auth/register', { body });
  assert.equal(r.status, 201, r.body);
  assert.equal(r.json.user.role, 'patient');
  assert.equal(r.json.user.username, 'self.made');
  r = await lib.request(d, 'POST', '/api/auth/register', { body: { ...body, username: 'SELF.MADE' } });
  assert.equal(r.status, 409);
  r = await lib.request(d, 'POST', '/api/auth/register', { body: { ...body, username: 'weak.one', password: 'qwertyuiop123' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'weak_password');
  const c = new lib.Client(d);
  assert.equal((await c.login('self.made', GOOD_PW)).status, 200);
  assert.equal((await c.get('/api/patients')).status, 403);
});

test('the admin creates physician, staff and admin accounts only', async () => {
  let r = await admin.post('/api/admin/users', { username: 'dr.new', display_name: 'Dr New', role: 'physician', password: GOOD_PW });
  assert.equal(r.status, 201, r.body);
  assert.equal(r.json.user.role, 'physician');
  assert.equal(r.json.user.activated, true);
  assert.equal(r.json.user.locked, false);
  r = await admin.post('/api/admin/users', { username: 'pat.new', display_name: 'Pat New', role: 'patient', password: GOOD_PW });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.field, 'role');
  r = await admin.post('/api/admin/users', { username: 'root.new', display_name: 'Root', role: 'superuser', password: GOOD_PW });
  assert.equal(r.status, 400);
  r = await admin.post('/api/admin/users', { username: 'dr.weak', display_name: 'Dr Weak', role: 'staff', password: 'Password2024!' });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'weak_password');
  r = await admin.post('/api/admin/users', { username: 'dr.new', display_name: 'Dr New', role: 'staff', password: GOOD_PW });
  assert.equal(r.status, 409);
  const c = new lib.Client(d);
  assert.equal((await c.login('dr.new', GOOD_PW)).status, 200);
});

test('the admin lists accounts with filters', async () => {
  let r = await admin.get('/api/admin/users?role=physician');
  assert.equal(r.status, 200);
  assert.ok(r.json.users.length >= 2);
  for (const u of r.json.users) {
    assert.equal(u.role, 'physician');
    for (const k of ['id', 'username', 'display_name', 'role', 'locked', 'totp_enabled', 'activated', 'created_at'])
      assert.ok(k in u, k);
    assert.equal(typeof u.locked, 'boolean');
    assert.equal(u.password_hash, undefined);
  }
  r = await admin.get('/api/admin/users?q=Ada%20Love');
  assert.deepEqual(r.json.users.map((u) => u.display_name), ['Ada Lovelace']);
  assert.equal(r.json.users[0].activated, false);
  r = await admin.get('/api/admin/users?q=%25');
  assert.equal(r.json.users.length, 0, '% is matched literally');
  assert.equal((await admin.get('/api/admin/users?role=root')).status, 400);
});

test('locking ends the account\'s sessions and refuses sign-in; unlocking clears the delay too', async () => {
  const victim = await lib.loginAs(d, 'physician2.demo');
  const id = victim.user.id;
  let r = await admin.post(`/api/admin/users/${id}/lock`, {});
  assert.equal(r.status, 200);
  assert.equal(r.json.user.locked, true);
  assert.equal((await victim.get('/api/auth/me')).status, 401);
  const login = () => lib.request(d, 'POST', '/api/auth/login', { body: { username: 'physician2.demo', password: PW('physician2.demo') } });
  assert.equal((await login()).status, 401);
  assert.equal((await login()).status, 401);
  assert.equal((await login()).status, 401);
  assert.equal((await login()).status, 429);
  r = await admin.post(`/api/admin/users/${id}/unlock`, {});
  assert.equal(r.status, 200);
  assert.equal(r.json.user.locked, false);
  assert.equal((await login()).status, 200, 'unlock should clear the throttle');
  assert.equal((await admin.post(`/api/admin/users/${admin.user.id}/lock`, {})).status, 409);
  assert.equal((await admin.post('/api/admin/users/999999/lock', {})).status, 404);
  assert.equal((await admin.post(`/api/admin/users/${id}/lock`, { role: 'admin' })).status, 400);
  const actions = lib.sqlite(d.dbPath, `SELECT action FROM audit_log WHERE object_type = 'user' AND object_id = '${id}' ORDER BY id`).split('\n');
  assert.ok(actions.includes('account.lock') && actions.includes('account.unlock'));
});

test('the care team searches patients; the read is audited; the admin gets no clinical list', async () => {
  const phys = await lib.loginAs(d, 'physician.demo');
  let r = await phys.get('/api/patients?q=Ada');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.patients.map((p) => [p.display_name, p.date_of_birth]), [['Ada Lovelace', '1985-12-10']]);
  assert.deepEqual(Object.keys(r.json.patients[0]).sort(), ['date_of_birth', 'display_name', 'id']);
  r = await phys.get('/api/patients');
  assert.ok(r.json.patients.length >= 5);
  assert.ok(r.json.patients.every((p) => p.id !== phys.user.id));
  assert.equal((await phys.get(`/api/patients?q=${'x'.repeat(101)}`)).status, 400);
  assert.equal((await admin.get('/api/patients')).status, 403);
  const rows = lib.sqlite(d.dbPath, `SELECT role || '|' || object_id FROM audit_log WHERE action = 'patients.search' AND user_id = ${phys.user.id}`).split('\n');
  assert.ok(rows.includes('physician|Ada'));
});

test('activation codes are throttled per client address', async () => {
  forgetFailures();
  const p = await newPatient('Throttled Patient');
  for (let i = 0; i < 3; i++) assert.equal((await activate(`AAAA-BBBB-CCCC-000${i}`, 'guesser')).status, 400);
  const r = await activate(p.activation_code, 'throttled.p');
  assert.equal(r.status, 429, 'even a right code waits');
  assert.ok(Number(r.headers['retry-after']) >= 1);
});
