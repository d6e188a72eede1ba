// Role x route matrix over every core route the daemon publishes in its
// OpenAPI document (x-atrium-roles), so a new core route is covered without
// editing this file; plus explicit expectations for the identity routes and the
// patient-A-versus-patient-B checks on the core's own routes.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const lib = require('./lib.js');

const ROLES = ['patient', 'physician', 'staff', 'admin'];
const USERS = {
  patient: 'patient.demo', physician: 'physician.demo', staff: 'staff.demo', admin: 'admin.demo',
};
const MISSING_ID = '999999';

let d;
const clients = {};

test.before(async () => {
  d = await lib.startDaemon();
  for (const role of ROLES) clients[role] = await lib.loginAs(d, USERS[role]);
  clients.anonymous = new lib.Client(d);
});
test.after(() => d && d.stop());

async function routes() {
  const r = await lib.request(d, 'GET', '/api/openapi.json');
  assert.equal(r.status, 200);
  const out = [];
  for (const [p, item] of Object.entries(r.json.paths)) {
    for (const [m, op] of Object.entries(item)) {
      // Plugins test their own routes; this file owns the core's.
      if (!op.tags.includes('core')) continue;
      out.push({
        method: m.toUpperCase(), path: p.replace(/\{[^}]+\}/g, MISSING_ID),
        template: p, roles: op['x-atrium-roles'], public: op.security.length === 0,
      });
    }
  }
  return out;
}

function call(client, rt) {
  const body = rt.method === 'GET' || rt.method === 'DELETE' ? undefined : {};
  return client.call(rt.method, rt.path, body);
}

// Routes that end the caller's own session are run with a throwaway client.
const SESSION_ENDING = new Set(['POST /api/auth/logout']);

test('every published core route answers each role as its x-atrium-roles says', async () => {
  const list = await routes();
  assert.ok(list.length >= 25, `only ${list.length} routes published`);
  const failures = [];
  for (const rt of list) {
    for (const who of ['anonymous', ...ROLES]) {
      let client = clients[who];
      if (SESSION_ENDING.has(`${rt.method} ${rt.template}`) && who !== 'anonymous') {
        client = await lib.loginAs(d, USERS[who]);
      }
      const r = await call(client, rt);
      const allowed = rt.public || (who !== 'anonymous' && rt.roles.includes(who));
      let ok;
      if (rt.public) ok = r.status !== 401 && r.status !== 403;
      else if (who === 'anonymous') ok = r.status === 401;
      else if (!allowed) ok = r.status === 403 && r.json.error.code === 'forbidden';
      else ok = r.status !== 401 && r.status !== 403;
      if (r.status >= 500) ok = false;
      if (!ok) failures.push(`${who} ${rt.method} ${rt.template} -> ${r.status} ${r.body.slice(0, 120)}`);
    }
  }
  assert.deepEqual(failures, []);
});

test('the identity routes are published with the roles the design gives them', async () => {
  const list = await routes();
  const roles = Object.fromEntries(list.map((r) => [`${r.method} ${r.template}`,
    r.public ? 'public' : [...r.roles].sort().join(',')]));
  const any = 'admin,patient,physician,staff';
  const expected = {
    'POST /api/auth/login': 'public',
    'POST /api/auth/activate': 'public',
    'POST /api/auth/register': 'public',
    'POST /api/auth/logout': any,
    'GET /api/auth/me': any,
    'GET /api/auth/sessions': any,
    'DELETE /api/auth/sessions/{id}': any,
    'POST /api/auth/password': any,
    'POST /api/auth/totp/enroll': any,
    'POST /api/auth/totp/confirm': any,
    'POST /api/auth/totp/disable': any,
    'GET /api/admin/users': 'admin',
    'POST /api/admin/users': 'admin',
    'POST /api/admin/users/{id}/lock': 'admin',
    'POST /api/admin/users/{id}/unlock': 'admin',
    'POST /api/admin/users/{id}/reset-totp': 'admin',
    'POST /api/admin/users/{id}/activation-code': 'admin,physician,staff',
    'POST /api/admin/patients': 'admin,physician,staff',
    'GET /api/patients': 'physician,staff',
    'GET /api/admin/audit': 'admin',
  };
  for (const [k, v] of Object.entries(expected)) assert.equal(roles[k], v, k);
});

test('explicit statuses per role for representative routes', async () => {
  const table = [
    // [method, path, body, {anonymous, patient, physician, staff, admin}]
    ['GET', '/api/auth/me', undefined, { anonymous: 401, patient: 200, physician: 200, staff: 200, admin: 200 }],
    ['GET', '/api/patients', undefined, { anonymous: 401, patient: 403, physician: 200, staff: 200, admin: 403 }],
    ['GET', '/api/admin/users', undefined, { anonymous: 401, patient: 403, physician: 403, staff: 403, admin: 200 }],
    ['GET', '/api/admin/audit', undefined, { anonymous: 401, patient: 403, physician: 403, staff: 403, admin: 200 }],
    ['POST', '/api/admin/patients', { display_name: 'Matrix Patient' },
      { anonymous: 401, patient: 403, physician: 201, staff: 201, admin: 201 }],
    ['POST', '/api/admin/users', {}, { anonymous: 401, patient: 403, physician: 403, staff: 403, admin: 400 }],
    ['POST', '/api/auth/register', {}, { anonymous: 404, patient: 404, physician: 404, staff: 404, admin: 404 }],
    ['GET', '/api/auth/sessions', undefined, { anonymous: 401, patient: 200, physician: 200, staff: 200, admin: 200 }],
    ['DELETE', `/api/auth/sessions/${MISSING_ID}`, undefined,
      { anonymous: 401, patient: 404, physician: 404, staff: 404, admin: 404 }],
    ['GET', '/healthz', undefined, { anonymous: 200, patient: 200, physician: 200, staff: 200, admin: 200 }],
  ];
  const got = [];
  const want = [];
  for (const [m, p, body, exp] of table) {
    for (const who of ['anonymous', ...ROLES]) {
      const r = await clients[who].call(m, p, body);
      got.push(`${who} ${m} ${p} ${r.status}`);
      want.push(`${who} ${m} ${p} ${exp[who]}`);
    }
  }
  assert.deepEqual(got, want);
});

test('an unknown route is 404 for everyone, a known path with a wrong method 405', async () => {
  for (const who of ['anonymous', ...ROLES]) {
    assert.equal((await clients[who].get('/api/admin/nothing-here')).status, 404);
    const r = await clients[who].call('PUT', '/api/auth/me', {});
    assert.equal(r.status, 405);
  }
});

// ---- patient A versus patient B on the core routes ----

test('patient A sees only their own sessions and cannot end B\'s', async () => {
  const a = await lib.loginAs(d, 'patient.demo');
  const b = await lib.loginAs(d, 'patient2.demo');
  const bSessions = (await b.get('/api/auth/sessions')).json.sessions;
  const bCurrent = bSessions.find((s) => s.current);
  assert.ok(bCurrent);
  const aSessions = (await a.get('/api/auth/sessions')).json.sessions;
  const aIds = new Set(aSessions.map((s) => s.id));
  for (const s of bSessions) assert.ok(!aIds.has(s.id), 'A lists one of B\'s sessions');
  const r = await a.del(`/api/auth/sessions/${bCurrent.id}`);
  assert.equal(r.status, 404);
  assert.equal((await b.get('/api/auth/me')).status, 200, 'B was signed out by A');
});

test('patient A does not see or mark patient B\'s notifications', async () => {
  const a = await lib.loginAs(d, 'patient.demo');
  const b = await lib.loginAs(d, 'patient2.demo');
  const bId = b.user.id;
  const now = Math.floor(Date.now() / 1000) - 5;
  // A portal notification already delivered to B (outbox row + delivery).
  const id = Number(lib.sqlite(d.dbPath, `
    INSERT INTO outbox (user_id, kind, ref, data, source, status, not_before, created_at, idempotency_key, fanout_at)
      VALUES (${bId}, 'idor_test', 'idor:1', '{}', 'core', 'sent', ${now}, ${now}, 'idor-test-1', ${now});
    INSERT INTO notify_deliveries (outbox_id, user_id, kind, channel, status, next_attempt_at, idempotency_key,
      prepared, title, body, created_at, sent_at)
      VALUES (last_insert_rowid(), ${bId}, 'idor_test', 'portal', 'sent', ${now}, 'idor-test-1-portal', 1,
      'For B only', 'private text', ${now}, ${now});
    SELECT id FROM outbox WHERE idempotency_key = 'idor-test-1';`));
  const mine = (c) => c.get('/api/notifications').then((r) => r.json.notifications.filter((n) => n.id === id));
  assert.equal((await mine(b)).length, 1, 'B should see the row (test is live)');
  assert.equal((await mine(a)).length, 0, 'A sees B\'s notification');
  assert.ok(!(await a.get('/api/notifications')).body.includes('private text'));
  assert.equal((await a.post(`/api/notifications/${id}/read`, {})).status, 404);
  assert.equal((await mine(b))[0].read, false, 'A marked B\'s notification read');
});

test('patient A cannot change patient B\'s account through any core route', async () => {
  const a = await lib.loginAs(d, 'patient.demo');
  const bId = (await lib.loginAs(d, 'patient2.demo')).user.id;
  const attempts = [
    ['POST', `/api/admin/users/${bId}/lock`, {}],
    ['POST', `/api/admin/users/${bId}/reset-totp`, {}],
    ['POST', `/api/admin/users/${bId}/unlock`, {}],
    ['POST', `/api/admin/users/${bId}/activation-code`, {}],
    ['GET', `/api/admin/audit?patient_id=${bId}`, undefined],
    ['GET', '/api/patients', undefined],
  ];
  for (const [m, p, body] of attempts) {
    const r = await a.call(m, p, body);
    assert.equal(r.status, 403, `${m} ${p}`);
  }
  // Privileged fields are refused, never applied.
  let r = await a.post('/api/auth/password', {
    current_password: 'x', new_password: 'y', user_id: bId,
  });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.field, 'user_id');
  r = await a.post('/api/auth/totp/enroll', { user_id: bId });
  assert.equal(r.status, 400);
  r = await a.get('/api/auth/me');
  assert.equal(r.json.user.id, a.user.id);
  assert.equal(r.json.user.role, 'patient');
});
