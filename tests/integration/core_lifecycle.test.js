// Start, stop and the database across runs: SIGTERM lets a request that is
// still arriving (a paused chunked upload) and a sign-in whose password hash
// is being computed finish, then exits 0 with the WAL checkpointed;
// --init-demo leaves a database with accounts alone; a database that records
// a core migration newer than this build is refused with a clear message.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { startDaemon, request, runCli, sqlite } = require('./lib');
const { connect, parseResponses, waitFor } = require('./corelib');

function walSize(d) {
  const wal = `${d.dbPath}-wal`;
  return fs.existsSync(wal) ? fs.statSync(wal).size : 0;
}

test('SIGTERM during a slow upload finishes it, then exits 0 with the WAL checkpointed', async () => {
  const d = await startDaemon();
  // Some writes so the WAL has content: sign-ins create sessions.
  const login = await request(d, 'POST', '/api/auth/login', {
    body: { username: 'patient.demo', password: d.demo.accounts['patient.demo'] },
  });
  assert.equal(login.status, 200);
  const s = await connect(d);
  let data = Buffer.alloc(0);
  s.on('data', (b) => { data = Buffer.concat([data, b]); });
  const closed = new Promise((r) => s.on('close', r));
  const body = JSON.stringify({ username: 'patient.demo', password: 'wrong password 123' });
  s.write('POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
    + `Transfer-Encoding: chunked\r\n\r\n5\r\n${body.slice(0, 5)}\r\n`);
  await new Promise((r) => setTimeout(r, 200));
  d.proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(d.exitCode, null, 'still running while a request is in flight');
  const rest = body.slice(5);
  s.write(`${rest.length.toString(16)}\r\n${rest}\r\n0\r\n\r\n`);
  const code = await d.exited;
  await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
  const { responses } = parseResponses(data);
  assert.equal(responses.length, 1, data.toString());
  assert.equal(responses[0].status, 401);
  assert.equal(code, 0);
  assert.equal(d.exitSignal, null);
  assert.equal(walSize(d), 0, 'WAL empty or gone after a clean exit');
  // The database is intact and closed: another process can write it.
  assert.equal(sqlite(d.dbPath, 'PRAGMA integrity_check'), 'ok');
  assert.ok(Number(sqlite(d.dbPath, 'SELECT COUNT(*) FROM sessions')) >= 1);
});

test('SIGTERM while a password hash is being computed lets the sign-in finish', async () => {
  // Expensive hashing: each argon2id call takes a noticeable time.
  const d = await startDaemon({ config: { auth: { password_ops: 3, password_mem_kib: 65536 } } });
  const t0 = Date.now();
  const p = request(d, 'POST', '/api/auth/login', {
    body: { username: 'staff.demo', password: d.demo.accounts['staff.demo'] },
  });
  await new Promise((r) => setTimeout(r, 15));
  d.proc.kill('SIGTERM');
  const r = await p;
  const took = Date.now() - t0;
  assert.equal(r.status, 200, r.body);
  assert.ok(r.json.user, 'signed in');
  assert.equal(await d.exited, 0);
  assert.equal(walSize(d), 0);
  assert.ok(took > 15, `sign-in took ${took} ms`);
});

test('--init-demo on a database with accounts changes nothing', async () => {
  const d = await startDaemon();
  const snapshot = () => sqlite(d.dbPath,
    'SELECT group_concat(id || username || password_hash, \'|\') FROM users');
  const before = snapshot();
  const n = sqlite(d.dbPath, 'SELECT COUNT(*) FROM users');
  await d.stop();
  const r = runCli(['--config', d.config, '--init-demo']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /already has accounts; nothing changed/);
  assert.doesNotMatch(r.stdout, /demo-patient/); // no passwords printed again
  assert.equal(sqlite(d.dbPath, 'SELECT COUNT(*) FROM users'), n);
  assert.equal(snapshot(), before);
  // A database with one non-demo account is left alone too.
  sqlite(d.dbPath, "DELETE FROM sessions; DELETE FROM recovery_codes; DELETE FROM activation_codes; "
    + "DELETE FROM outbox; DELETE FROM users WHERE username != 'patient2.demo'");
  const r2 = runCli(['--config', d.config, '--init-demo']);
  assert.equal(r2.status, 0, r2.stderr);
  assert.equal(sqlite(d.dbPath, 'SELECT COUNT(*) FROM users'), '1');
});

test('a database with a core migration newer than the code is refused', async () => {
  const d = await startDaemon({ demo: false });
  await d.stop();
  const latest = Number(sqlite(d.dbPath, "SELECT MAX(id) FROM schema_migrations WHERE owner = 'core'"));
  assert.ok(latest >= 1);
  sqlite(d.dbPath, "INSERT INTO schema_migrations (owner, id) VALUES ('core', 999)");
  const schema = sqlite(d.dbPath, 'SELECT group_concat(sql, \';\') FROM sqlite_master');
  const r = runCli(['--config', d.config], { timeout: 10000 });
  assert.notEqual(r.status, 0);
  assert.equal(r.signal, null, 'refused at once, not killed by the timeout');
  assert.match(r.stderr, /migration 999/);
  assert.match(r.stderr, /newer than this code/);
  assert.ok(r.stderr.includes(`latest ${latest}`), r.stderr);
  assert.doesNotMatch(r.stdout, /listening/);
  // Nothing was changed on the way out.
  assert.equal(sqlite(d.dbPath, 'SELECT group_concat(sql, \';\') FROM sqlite_master'), schema);
  // --check-config says the same.
  const c = runCli(['--config', d.config, '--check-config']);
  assert.notEqual(c.status, 0);
  assert.match(c.stderr, /migration 999/);
});

test('a second daemon on the same port is refused cleanly', async () => {
  const d = await startDaemon({ demo: false });
  try {
    const r = runCli(['--config', d.config], { timeout: 10000 });
    assert.notEqual(r.status, 0);
    assert.equal(r.signal, null);
    assert.match(r.stderr, /cannot listen/);
    await waitFor(async () => (await request(d, 'GET', '/healthz')).status === 200, 2000, 'first daemon');
  } finally {
    await d.stop();
  }
});
