// The structured access log on stderr: one line per request with method,
// path (never the query string), status, duration, request id and user;
// lines are batched but reach stderr within a moment, not only at exit;
// nothing a client sends as a secret (password, session cookie, CSRF token,
// Authorization header, body, query string) ever reaches stderr; a hostile
// path cannot forge fields; access_log = off silences the lines.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, request, loginAs } = require('./lib');
const { rawExchange, waitFor } = require('./corelib');

const LINE = /^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=info req=([0-9a-f]{16}) method=([A-Z]+) path="((?:[^"\\]|\\.)*)" status=(\d{3}) dur_us=(\d+) user=(\d+)$/;

let d;
let secrets;

function accessLines() {
  return d.stderr.split('\n').filter((l) => / req=[0-9a-f]+ method=/.test(l));
}

before(async () => {
  d = await startDaemon();
  const c = await loginAs(d, 'patient.demo');
  secrets = {
    password: d.demo.accounts['patient.demo'],
    cookie: c.cookie.split('=')[1],
    csrf: c.csrf,
    bearer: 'Bearer-secret-4c1d9e',
    query: 'query-secret-77aa31',
    body: 'body-secret-1b2c3d',
  };
  await c.get(`/api/notifications?limit=5&token=${secrets.query}`);
  await c.get('/api/auth/me', { Authorization: secrets.bearer });
  await c.post('/api/auth/login', { username: secrets.body, password: secrets.body });
  await request(d, 'GET', `/healthz?session=${secrets.query}`);
  // A wrong password for a real account.
  await request(d, 'POST', '/api/auth/login', { body: { username: 'staff.demo', password: `${secrets.password}x` } });
  await d.stop();
});
after(() => d.stop());

test('every request leaves one well-formed access line', () => {
  const lines = accessLines();
  assert.ok(lines.length >= 6, d.stderr);
  const ids = new Set();
  for (const l of lines) {
    const m = l.match(LINE);
    assert.ok(m, `malformed: ${l}`);
    ids.add(m[1]);
  }
  assert.equal(ids.size, lines.length, 'request ids are unique');
});

test('the access line has method, path without query, status and user', () => {
  const parsed = accessLines().map((l) => l.match(LINE));
  const health = parsed.find((m) => m[3] === '/healthz');
  assert.ok(health);
  assert.equal(health[2], 'GET');
  assert.equal(health[4], '200');
  assert.equal(health[6], '0');
  const notif = parsed.find((m) => m[3] === '/api/notifications');
  assert.ok(notif, 'path logged without its query string');
  assert.equal(notif[4], '200');
  assert.ok(Number(notif[6]) > 0, 'signed-in user id logged');
  const login = parsed.filter((m) => m[3] === '/api/auth/login' && m[2] === 'POST');
  assert.ok(login.some((m) => m[4] === '200'));
  assert.ok(login.some((m) => m[4] === '401'));
});

test('no password, cookie, CSRF token, Authorization, body or query reaches stderr', () => {
  for (const [what, value] of Object.entries(secrets)) {
    assert.ok(value && value.length >= 8, what);
    assert.ok(!d.stderr.includes(value), `${what} found in stderr`);
  }
  assert.ok(!/password|cookie|csrf/i.test(d.stderr.replace(/path="[^"]*"/g, '')),
    'no field names that hint at secrets');
});

test('a hostile path is escaped and cannot add fields; access_log = off silences', async () => {
  const q = await startDaemon({ demo: false });
  const x = await rawExchange(q, [
    'GET /api/x%22%20status=200%20user=1%0aforged HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    'GET /api/y%5c%22 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  ]);
  assert.ok(x.responses.length >= 1);
  const long = `/api/${'a'.repeat(3000)}`;
  assert.equal((await request(q, 'GET', long)).status, 404);
  await q.stop();
  const lines = q.stderr.split('\n').filter((l) => l.includes(' req='));
  assert.ok(!q.stderr.split('\n').some((l) => l.startsWith('forged')), q.stderr);
  for (const l of lines) assert.ok(LINE.test(l), `malformed: ${l}`);
  // The forged "status=200 user=1" stays inside the quoted path.
  const forged = lines.map((l) => l.match(LINE)).find((m) => m[3].includes('forged'));
  assert.ok(forged);
  assert.equal(forged[3], '/api/x\\" status=200 user=1\\x0aforged');
  assert.equal(forged[4], '400');
  assert.equal(forged[6], '0');
  // The 3000-byte path is cut, and the line still ends with its fields.
  const longLine = lines.find((l) => l.includes('aaaa'));
  assert.ok(longLine && longLine.length < 1024, 'long path cut');
  assert.match(longLine, /\.\.\." status=404 dur_us=\d+ user=0$/);

  const quiet = await startDaemon({ demo: false, config: { server: { access_log: 'off' } } });
  await request(quiet, 'GET', '/healthz');
  await request(quiet, 'GET', '/api/nope');
  await quiet.stop();
  assert.ok(!quiet.stderr.includes(' req='), quiet.stderr);
  assert.match(quiet.stderr, /listening/);
});

test('access lines reach stderr while the daemon runs', async () => {
  const q = await startDaemon({ demo: false });
  try {
    await request(q, 'GET', '/api/marker-while-running');
    await waitFor(() => q.stderr.includes('path="/api/marker-while-running" status=404'), 2000,
      'the access line');
    assert.equal(q.exitCode, null);
  } finally {
    await q.stop();
  }
});

test('a token in the path stays out of the log on a 405 too', { skip: !require('node:fs').existsSync(`${require('./lib').BUILD}/plugins/scheduling.so`) && 'scheduling plugin not built' }, async () => {
  const q = await startDaemon({ demo: false, config: { plugins: { scheduling: 'on' } } });
  const secret = 'TokenForA405Check0123456789abcdef';
  try {
    // The route is POST-only: GET and DELETE match its shape but not its method.
    assert.equal((await request(q, 'GET', `/api/scheduling/reminders/${secret}/confirm`)).status, 405);
    assert.equal((await request(q, 'DELETE', `/api/scheduling/reminders/${secret}`)).status, 405);
  } finally {
    await q.stop();
  }
  assert.ok(!q.stderr.includes(secret), 'token in stderr');
  assert.match(q.stderr, /path="\/api\/scheduling\/reminders\/\[redacted\]\/confirm" status=405/);
});
