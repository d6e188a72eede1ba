// Request workers keep their read transaction open between requests (see
// core/db.c). These tests pin down what that must never change: a request
// sees every commit that finished before it started, whether it came from
// another worker or another process; a session revoked behind the daemon's
// back stops working at once; and the daemon never disturbs SQLite's own
// locks, so another process can keep writing while it runs.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const lib = require('./lib');

let d;
before(async () => { d = await lib.startDaemon(); });
after(() => d.stop());

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a write by another process is seen by the very next request', async () => {
  const pat = await lib.loginAs(d, 'patient.demo');
  // Warm both workers so each holds a snapshot.
  for (let i = 0; i < 20; i++) assert.equal((await pat.get('/api/auth/me')).status, 200);
  for (let i = 0; i < 15; i++) {
    const name = `Snapshot Name ${i}`;
    lib.sqlite(d.dbPath, `UPDATE users SET display_name = '${name}' WHERE username = 'patient.demo'`);
    const r = await pat.get('/api/auth/me');
    assert.equal(r.status, 200);
    assert.equal(r.json.user.display_name, name, `round ${i}`);
  }
});

test('a session deleted by another process is refused at once', async () => {
  const pat = await lib.loginAs(d, 'patient.demo');
  for (let i = 0; i < 10; i++) assert.equal((await pat.get('/api/auth/me')).status, 200);
  lib.sqlite(d.dbPath, `DELETE FROM sessions WHERE user_id = ${pat.user.id}`);
  for (let i = 0; i < 10; i++) assert.equal((await pat.get('/api/auth/me')).status, 401, `request ${i}`);
});

test('a lock or role change made by another process applies to the next request', async () => {
  const staff = await lib.loginAs(d, 'staff.demo');
  for (let i = 0; i < 10; i++) assert.equal((await staff.get('/api/auth/me')).json.user.role, 'staff');
  lib.sqlite(d.dbPath, "UPDATE users SET role = 'patient' WHERE username = 'staff.demo'");
  assert.equal((await staff.get('/api/auth/me')).json.user.role, 'patient');
  lib.sqlite(d.dbPath, "UPDATE users SET role = 'staff', locked = 1 WHERE username = 'staff.demo'");
  assert.equal((await staff.get('/api/auth/me')).status, 401);
  lib.sqlite(d.dbPath, "UPDATE users SET locked = 0 WHERE username = 'staff.demo'");
});

test('a sign-out on one connection is seen by requests on others', async () => {
  const pat = await lib.loginAs(d, 'patient.demo');
  const cookie = pat.cookie;
  const raw = (p) => lib.request(d, 'GET', p, { headers: { Cookie: cookie } });
  // Parallel connections spread over the workers.
  let rs = await Promise.all(Array.from({ length: 8 }, () => raw('/api/auth/me')));
  for (const r of rs) assert.equal(r.status, 200);
  const out = await pat.post('/api/auth/logout', {});
  assert.ok(out.status === 200 || out.status === 204, out.body);
  rs = await Promise.all(Array.from({ length: 8 }, () => raw('/api/auth/me')));
  for (const r of rs) assert.equal(r.status, 401);
});

// SQLite marks a -shm file in use with a shared lock on its byte 128 (the
// "dead man switch"); a process that can lock it exclusively resets the
// file under everyone else. POSIX drops all of a process's locks on a file
// when any descriptor of it closes, so a stray close in the daemon would
// hand that lock away.
test('the daemon keeps holding SQLite\'s lock on the shared-memory file', async () => {
  const pat = await lib.loginAs(d, 'patient.demo');
  await Promise.all(Array.from({ length: 8 }, () => pat.get('/api/auth/me')));
  await sleep(60);
  const py = 'import fcntl,os,sys\n' +
    'fd = os.open(sys.argv[1], os.O_RDWR)\n' +
    'try:\n  fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)\n  print("free")\n' +
    'except OSError:\n  print("held")\n';
  const r = spawnSync('python3', ['-c', py, `${d.dbPath}-shm`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'held');
});

test('another process keeps writing while workers sit idle holding snapshots', async () => {
  const pat = await lib.loginAs(d, 'patient.demo');
  await Promise.all(Array.from({ length: 8 }, () => pat.get('/api/auth/me')));
  lib.sqlite(d.dbPath, 'CREATE TABLE IF NOT EXISTS snapshot_probe (n INTEGER)');
  for (let i = 0; i < 30; i++) {
    lib.sqlite(d.dbPath, `INSERT INTO snapshot_probe VALUES (${i})`);
    if (i % 10 === 0) await sleep(60); // past the idle closer's period
  }
  assert.equal(lib.sqlite(d.dbPath, 'SELECT COUNT(*) FROM snapshot_probe'), '30');
  // The daemon is alive and its own writes still work.
  assert.equal((await pat.get('/api/auth/me')).status, 200);
  const r = await pat.put('/api/notifications/preferences', { preferences: { appointment_reminder: ['portal'] } });
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(r.json.preferences.appointment_reminder, ['portal']);
  const back = await pat.get('/api/notifications/preferences');
  assert.deepEqual(back.json.preferences.appointment_reminder, ['portal']);
  assert.equal(lib.sqlite(d.dbPath, `SELECT COUNT(*) FROM notify_preferences WHERE user_id = ${pat.user.id} AND kind = 'appointment_reminder'`), '1');
  assert.equal((await lib.request(d, 'GET', '/healthz')).status, 200);
  // The WAL can still be checkpointed to the end once the workers idle.
  await sleep(100);
  const ck = lib.sqlite(d.dbPath, 'PRAGMA wal_checkpoint(PASSIVE)').split('|');
  assert.equal(ck[0], '0');
  assert.equal(ck[1], ck[2], `every frame checkpointed: ${ck.join('|')}`);
});
