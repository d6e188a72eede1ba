// Single-use tokens travel in URLs (reminder and waitlist links); they must
// not end up in the access log or the audit log.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const lib = require('./lib');

let d;
before(async () => { d = await lib.startDaemon({ config: { plugins: { scheduling: 'on' } } }); });
after(() => d.stop());

test('path tokens are redacted in the access log and audit rows', async () => {
  const secret = 'SeCrEtToKeN0123456789abcdefghijklmnopqrstu';
  const r = await lib.request(d, 'GET', `/api/scheduling/reminders/${secret}`);
  assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
  await lib.request(d, 'POST', `/api/scheduling/reminders/${secret}/confirm`,
    { body: {} });
  await new Promise((res) => setTimeout(res, 200));
  assert.ok(!d.stderr.includes(secret), 'token in the access log');
  assert.match(d.stderr, /path="\/api\/scheduling\/reminders\/\[redacted\]"/);
  const rows = lib.sqlite(d.dbPath, 'SELECT COALESCE(object_id, \'\') || action FROM audit_log');
  assert.ok(!rows.includes(secret), 'token in the audit log');
  const m = await lib.request(d, 'GET', '/api/ui/manifest');
  assert.equal(m.json.practice.timezone, 'UTC');
});
