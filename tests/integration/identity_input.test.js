// Bad input on the identity routes: wrong types, over-long fields, NUL
// bytes, invalid UTF-8, duplicate keys, non-objects and privileged fields
// all get a 400 (or 415 for a non-JSON body), never a 500, and nothing is
// applied. Also `atriumd --create-user`, which reads the password on stdin.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const lib = require('./lib.js');

let d;
let admin;
let staff;
let patient;
test.before(async () => {
  d = await lib.startDaemon({ config: { auth: { self_registration: 'on', lockout_threshold: 1000 } } });
  admin = await lib.loginAs(d, 'admin.demo');
  staff = await lib.loginAs(d, 'staff.demo');
  patient = await lib.loginAs(d, 'patient.demo');
});
test.after(() => d && d.stop());

// Sends raw bytes as a signed-in client (or anonymously when c is null).
function raw(c, method, p, bytes, contentType = 'application/json') {
  const headers = { 'Content-Type': contentType, Origin: d.url };
  if (c) { headers.Cookie = c.cookie; headers['X-CSRF-Token'] = c.csrf; }
  return lib.request(d, method, p, { body: Buffer.from(bytes), raw: true, headers });
}

const ROUTES = [
  [null, '/api/auth/login', { username: 'patient.demo', password: 'x' }],
  [null, '/api/auth/activate', { code: 'AAAA-BBBB-CCCC-DDDD', username: 'abc', password: 'x' }],
  [null, '/api/auth/register', { username: 'abc', password: 'x', display_name: 'A' }],
  ['patient', '/api/auth/password', { current_password: 'x', new_password: 'y' }],
  ['patient', '/api/auth/totp/confirm', { code: '123456' }],
  ['patient', '/api/auth/totp/disable', { password: 'x' }],
  ['admin', '/api/admin/users', { username: 'abc', display_name: 'A', role: 'staff', password: 'x' }],
  ['staff', '/api/admin/patients', { display_name: 'A' }],
];
const who = { patient: () => patient, admin: () => admin, staff: () => staff };

function variants(body) {
  const k = Object.keys(body)[0];
  const json = JSON.stringify(body);
  return [
    ['empty body', ''],
    ['array', '[]'],
    ['string', '"hello"'],
    ['null', 'null'],
    ['truncated', json.slice(0, -3)],
    ['trailing garbage', `${json}x`],
    ['duplicate key', json.replace('{', `{"${k}":"dup",`)],
    ['NUL escape', JSON.stringify({ ...body, [k]: 'a\u0000b' })],
    ['raw NUL byte', `${json.slice(0, -1)},"zz":"a\u0000b"}`],
    ['invalid UTF-8', Buffer.concat([Buffer.from(`{"${k}":"`), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])],
    ['lone surrogate', `{"${k}":"\\ud800"}`],
    ['number for string', JSON.stringify({ ...body, [k]: 5 })],
    ['object for string', JSON.stringify({ ...body, [k]: { a: 1 } })],
    ['array for string', JSON.stringify({ ...body, [k]: ['a'] })],
    ['bool for string', JSON.stringify({ ...body, [k]: true })],
    ['huge number', `{"${k}": 1e99999}`],
    ['over-long field', JSON.stringify({ ...body, [k]: 'x'.repeat(5000) })],
    ['deep nesting', `{"${k}":${'['.repeat(5000)}${']'.repeat(5000)}}`],
    ['unknown field', JSON.stringify({ ...body, extra: 1 })],
    ['role field', JSON.stringify({ ...body, role: 'admin' })],
    ['user_id field', JSON.stringify({ ...body, user_id: 1 })],
  ].filter(([name]) => !(name === 'role field' && 'role' in body));
}

test('malformed bodies get 400, never 500, on every identity route', async () => {
  const bad = [];
  for (const [role, p, body] of ROUTES) {
    const c = role ? who[role]() : null;
    for (const [name, bytes] of variants(body)) {
      const r = await raw(c, 'POST', p, bytes);
      if (r.status !== 400 || !r.json || !r.json.error) bad.push(`${p} ${name}: ${r.status} ${r.body.slice(0, 100)}`);
    }
  }
  assert.deepEqual(bad, []);
  assert.equal((await lib.request(d, 'GET', '/healthz')).status, 200);
});

test('the error names the offending field', async () => {
  const r = await raw(null, 'POST', '/api/auth/login', JSON.stringify({ username: 'abc', password: 7 }));
  assert.equal(r.json.error.field, 'password');
  const u = await raw(null, 'POST', '/api/auth/register', JSON.stringify({ username: 'abc', password: 'x', display_name: 'A', is_admin: true }));
  assert.equal(u.json.error.field, 'is_admin');
});

test('a body that is not JSON is 415', async () => {
  const r = await raw(null, 'POST', '/api/auth/login', 'username=a&password=b', 'application/x-www-form-urlencoded');
  assert.equal(r.status, 415);
});

test('privileged fields are refused and never applied', async () => {
  const before = lib.sqlite(d.dbPath, 'SELECT COUNT(*) FROM users');
  let r = await lib.request(d, 'POST', '/api/auth/register', {
    body: { username: 'sneaky.one', password: 'grape lantern 1999 quietly', display_name: 'Sneaky', role: 'admin' },
  });
  assert.equal(r.status, 400);
  r = await staff.post('/api/admin/patients', { display_name: 'Sneaky Patient', role: 'admin' });
  assert.equal(r.status, 400);
  r = await staff.post('/api/admin/patients', { display_name: 'Sneaky Patient', username: 'sneaky2' });
  assert.equal(r.status, 400);
  r = await patient.post('/api/auth/password', {
    current_password: d.demo.accounts['patient.demo'], new_password: 'grape lantern 1999 quietly', user_id: 1,
  });
  assert.equal(r.status, 400);
  assert.equal(lib.sqlite(d.dbPath, 'SELECT COUNT(*) FROM users'), before);
  assert.equal(lib.sqlite(d.dbPath, "SELECT COUNT(*) FROM users WHERE role = 'admin'"), '1');
  // The password did not change.
  const c = new lib.Client(d);
  assert.equal((await c.login('patient.demo', d.demo.accounts['patient.demo'])).status, 200);
});

test('odd query strings and path ids on identity routes are 400 or 404, never 500', async () => {
  const paths = [
    '/api/patients?q=%00', '/api/patients?q=%ff', '/api/patients?q=' + 'a'.repeat(3000),
    '/api/admin/users?role=%00', '/api/admin/users?q=%25%5f%5c',
  ];
  for (const p of paths) {
    const c = p.startsWith('/api/admin') ? admin : staff;
    const r = await c.get(p);
    assert.ok([200, 400].includes(r.status), `${p}: ${r.status}`);
  }
  for (const id of ['%00', '1%2f2', '-5', '0x10', '9'.repeat(40)]) {
    const r = await admin.post(`/api/admin/users/${id}/lock`, {});
    assert.ok([400, 404].includes(r.status), `${id}: ${r.status}`);
  }
});

// ---- atriumd --create-user ----

test('--create-user reads the password from stdin and refuses a weak one', () => {
  const weak = lib.runCli(['--config', d.config, '--create-user', 'cli.weak', '--role', 'staff'], { input: 'password123\n' });
  assert.notEqual(weak.status, 0);
  assert.match(weak.stderr, /cannot create 'cli\.weak'/);
  assert.ok(!weak.stderr.includes('password123') && !weak.stdout.includes('password123'));
  const none = lib.runCli(['--config', d.config, '--create-user', 'cli.none', '--role', 'staff'], { input: '' });
  assert.notEqual(none.status, 0);
  const role = lib.runCli(['--config', d.config, '--create-user', 'cli.role', '--role', 'root'], { input: 'orchid tractor 1962 mellow\n' });
  assert.notEqual(role.status, 0);
  assert.equal(lib.sqlite(d.dbPath, "SELECT COUNT(*) FROM users WHERE username LIKE 'cli.%'"), '0');
});

test('--create-user creates an account that can sign in, audited', async () => {
  const pw = 'orchid tractor 1962 mellow';
  const r = lib.runCli(['--config', d.config, '--create-user', 'cli.admin', '--role', 'admin', '--display-name', 'CLI Admin'], { input: `${pw}\n` });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /created admin 'cli\.admin'/);
  assert.ok(!r.stdout.includes(pw));
  const dup = lib.runCli(['--config', d.config, '--create-user', 'CLI.ADMIN', '--role', 'staff'], { input: `${pw}\n` });
  assert.notEqual(dup.status, 0);
  const c = new lib.Client(d);
  const login = await c.login('cli.admin', pw);
  assert.equal(login.status, 200);
  assert.equal(login.json.must_enroll_totp, true, 'a new admin must enrol TOTP first');
  const id = login.json.user.id;
  assert.equal(lib.sqlite(d.dbPath, `SELECT client FROM audit_log WHERE action = 'account.create' AND object_id = '${id}'`), 'command line');
});
