// The audit log: rows for sign-ins, sign-outs, account changes and reads of
// patient data (also refused ones), the admin search by user, patient and
// time, the append-only triggers, and `atriumd --verify-audit` catching a
// row edited or removed directly in SQLite.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const lib = require('./lib.js');

let d;
test.before(async () => { d = await lib.startDaemon(); });
test.after(() => d && d.stop());

const verify = () => lib.runCli(['--config', d.config, '--verify-audit']);
const rows = (where) => lib.sqlite(d.dbPath,
  `SELECT COALESCE(username,'') || '|' || COALESCE(role,'') || '|' || action || '|' || COALESCE(patient_id,'') || '|' || outcome || '|' || COALESCE(client,'') FROM audit_log WHERE ${where} ORDER BY id`)
  .split('\n').filter(Boolean);

let patientId;
let t0;

test('sign-in, failed sign-in and sign-out are audited with who, role, client and outcome', async () => {
  t0 = new Date(Date.now() - 1000).toISOString();
  await lib.request(d, 'POST', '/api/auth/login', { body: { username: 'patient.demo', password: 'definitely wrong' } });
  const c = await lib.loginAs(d, 'patient.demo');
  patientId = c.user.id;
  assert.equal((await c.post('/api/auth/logout', {})).status, 204);
  const got = rows("action IN ('auth.login','auth.logout') AND username = 'patient.demo'");
  assert.deepEqual(got, [
    'patient.demo|patient|auth.login||bad_password|127.0.0.1',
    'patient.demo|patient|auth.login||ok|127.0.0.1',
    'patient.demo|patient|auth.logout||ok|127.0.0.1',
  ]);
});

test('reads of patient data are audited, and so are refused attempts', async () => {
  const phys = await lib.loginAs(d, 'physician.demo');
  assert.equal((await phys.get('/api/patients?q=Pat')).status, 200);
  const pat = await lib.loginAs(d, 'patient2.demo');
  assert.equal((await pat.get('/api/patients')).status, 403);
  const staff = await lib.loginAs(d, 'staff.demo');
  const created = await staff.post('/api/admin/patients', { display_name: 'Audit Subject', date_of_birth: '1970-01-01' });
  assert.equal(created.status, 201);
  const id = created.json.patient.id;
  assert.deepEqual(rows(`action = 'patients.search'`), ['physician.demo|physician|patients.search||ok|127.0.0.1']);
  assert.deepEqual(rows(`action = 'GET /api/patients'`), ['patient2.demo|patient|GET /api/patients||denied|127.0.0.1']);
  assert.deepEqual(rows(`action = 'account.create' AND patient_id = ${id}`), [`staff.demo|staff|account.create|${id}|ok|127.0.0.1`]);
  // Exactly one row per request (no automatic duplicate on top of the handler's).
  assert.equal(lib.sqlite(d.dbPath, `SELECT COUNT(*) FROM audit_log WHERE patient_id = ${id}`), '1');
});

test('the admin searches the audit log by user, patient and time range', async () => {
  const admin = await lib.loginAs(d, 'admin.demo');
  let r = await admin.get(`/api/admin/audit?user_id=${patientId}`);
  assert.equal(r.status, 200);
  assert.ok(r.json.entries.length >= 3);
  assert.ok(r.json.entries.every((e) => e.user_id === patientId));
  assert.ok(r.json.entries[0].id > r.json.entries[r.json.entries.length - 1].id, 'newest first');
  const id = Number(lib.sqlite(d.dbPath, "SELECT id FROM users WHERE display_name = 'Audit Subject'"));
  r = await admin.get(`/api/admin/audit?patient_id=${id}`);
  assert.deepEqual(r.json.entries.map((e) => e.action), ['account.create']);
  r = await admin.get(`/api/admin/audit?from=${encodeURIComponent(t0)}&user_id=${patientId}`);
  assert.ok(r.json.entries.length >= 3);
  r = await admin.get(`/api/admin/audit?to=${encodeURIComponent(t0)}&user_id=${patientId}`);
  assert.equal(r.json.entries.length, 0);
  // An offset time means the same instant.
  const plus2 = new Date(Date.parse(t0) + 2 * 3600e3).toISOString().replace(/\.\d+Z$/, '+02:00');
  r = await admin.get(`/api/admin/audit?from=${encodeURIComponent(plus2)}&user_id=${patientId}`);
  assert.ok(r.json.entries.length >= 3, 'offset not honoured');
  assert.equal((await admin.get('/api/admin/audit?from=yesterday')).status, 400);
  assert.equal((await admin.get('/api/admin/audit?user_id=abc')).status, 400);
  // The search itself is audited.
  assert.ok(rows("action = 'audit.search'").length >= 4);
});

test('UPDATE and DELETE on the audit log are refused by triggers', () => {
  assert.throws(() => lib.sqlite(d.dbPath, "UPDATE audit_log SET outcome = 'ok' WHERE id = 1"), /append-only/);
  assert.throws(() => lib.sqlite(d.dbPath, 'DELETE FROM audit_log WHERE id = 1'), /append-only/);
});

test('--verify-audit passes on an intact log', () => {
  const r = verify();
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /intact: \d+ rows/);
});

test('--verify-audit fails when the triggers are dropped', () => {
  lib.sqlite(d.dbPath, 'DROP TRIGGER audit_no_delete');
  const r = verify();
  assert.equal(r.status, 1);
  assert.match(r.stdout, /triggers/);
  lib.sqlite(d.dbPath, "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END");
  assert.equal(verify().status, 0);
});

test('--verify-audit names the first row edited directly in SQLite', () => {
  const id = Number(lib.sqlite(d.dbPath, "SELECT id FROM audit_log WHERE action = 'auth.login' AND outcome = 'bad_password' ORDER BY id LIMIT 1"));
  lib.sqlite(d.dbPath, `DROP TRIGGER audit_no_update; UPDATE audit_log SET outcome = 'ok' WHERE id = ${id}; CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;`);
  const r = verify();
  assert.equal(r.status, 1);
  assert.match(r.stdout, new RegExp(`row ${id}\\b`));
});

test('--verify-audit names the row after one deleted directly in SQLite', () => {
  // Put the edited row back first, so the deletion is the first break.
  const edited = Number(lib.sqlite(d.dbPath, "SELECT MIN(id) FROM audit_log WHERE action = 'auth.login'"));
  lib.sqlite(d.dbPath, `DROP TRIGGER audit_no_update; UPDATE audit_log SET outcome = 'bad_password' WHERE id = ${edited}; CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;`);
  assert.equal(verify().status, 0, 'restoring the edit should heal the chain');
  const victim = Number(lib.sqlite(d.dbPath, "SELECT id FROM audit_log WHERE action = 'auth.logout' ORDER BY id LIMIT 1"));
  const next = Number(lib.sqlite(d.dbPath, `SELECT MIN(id) FROM audit_log WHERE id > ${victim}`));
  lib.sqlite(d.dbPath, `DROP TRIGGER audit_no_delete; DELETE FROM audit_log WHERE id = ${victim}; CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;`);
  const r = verify();
  assert.equal(r.status, 1);
  assert.match(r.stdout, new RegExp(`row ${next}\\b`));
});
