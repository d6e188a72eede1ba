// Notification delivery end to end: a real atriumd, a real SMTP server
// (smtp_sink.py, aiosmtpd) and a webhook receiver on loopback. Outbox rows
// are queued with sqlite3 exactly as the host API's notify() inserts them.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startDaemon, loginAs, freePort } = require('./lib');
const S = require('./notify_support');

const SECRET = 'webhook-secret-for-tests-0123456789';
// Clinical detail a plugin puts in data: none of it may leave the portal.
const PHI = {
  provider: 'Dr. Zeno Quimbyfield', type: 'Oncology follow-up', time: '2031-05-06T09:30:00Z',
  title: 'Oncology follow-up with Dr. Zeno Quimbyfield', body: 'Tuesday 09:30, room 4, fasting bloodwork',
};
const PHI_WORDS = ['Quimbyfield', 'Oncology', '09:30', '2031', 'fasting', 'room 4'];

let d, sink, hook, mode, smtpPort, dir;
const modes = new Map(); // user_id -> (request, previous requests for it) => status|'hang'

before(async () => {
  dir = S.tmpDir('atrium-notify-');
  smtpPort = await freePort();
  sink = await S.startSink(smtpPort, path.join(dir, 'mail'));
  hook = await S.startReceiver((r, all) => {
    const uid = r.json && r.json.user_id;
    const f = modes.get(uid);
    return f ? f(r, all.filter((x) => x.json && x.json.user_id === uid)) : 200;
  });
  d = await startDaemon({
    config: {
      server: { base_url: 'https://portal.example' },
      practice: { name: 'Good Clinic' },
      notify: {
        email: 'on', smtp_url: `smtp://127.0.0.1:${smtpPort}`, smtp_from: 'noreply@clinic.example',
        smtp_starttls: 'off', webhook: 'on', webhook_url: `http://127.0.0.1:${hook.port}/hook`,
        webhook_secret: SECRET, timeout: 1, max_attempts: 4, retry_base: 1, retry_max: 2,
        quiet_start: '00:00', quiet_end: '00:00', rate_per_hour: 3,
        defaults: 'appointment_reminder:portal+email+webhook,new_message:portal+email',
      },
    },
    workflows: {
      'notify.lua': `
atrium.on('notification.before_send', function(ev)
  if ev.ref == 'suppress-me' then return false end
  if ev.ref == 'inject' and ev.channel == 'email' then
    ev.title = 'Hello\\r\\nBcc: evil@attacker.example'
  end
  if ev.ref == 'move' and ev.channel == 'webhook' then ev.channel = 'email' end
end)
atrium.on('notification.failed', function(ev)
  atrium.notify{user_id = ev.user_id, kind = 'generic', ref = 'failed:' .. tostring(ev.id)}
end)
`,
    },
  });
});

after(async () => {
  if (d) await d.stop();
  if (sink) await sink.stop();
  if (hook) await hook.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const mailsTo = (addr) => sink.messages().filter((m) => m.get('X-Sink-Rcpt-To') === addr);
const mailFor = (key, channelKey = `${key}.email`) =>
  sink.messages().filter((m) => m.get('Message-ID').startsWith(`<${channelKey}@`));
const hooksFor = (key) => hook.requests.filter((r) => r.headers['x-atrium-idempotency-key'] === `${key}.webhook`);
const settled = (rows) => rows.length > 0 && rows.every((r) => !['pending', 'sending', 'deferred'].includes(r.status));

async function waitSettled(id, n) {
  return S.waitFor(`deliveries of outbox ${id}`, () => {
    const rows = S.deliveries(d, id);
    return rows.length === n && settled(rows) ? rows : null;
  }, 15000);
}

test('a reminder is delivered once on each chosen channel, and nothing clinical leaves the portal', async () => {
  const uid = S.userId(d, 'patient.demo');
  const { id, key } = S.queue(d, uid, 'appointment_reminder', 'appointment:1', PHI);
  const rows = S.byChannel(await waitSettled(id, 3));
  for (const ch of ['portal', 'email', 'webhook']) assert.equal(rows[ch].status, 'sent', ch);
  await S.sleep(1500); // nothing is sent twice
  const mails = mailFor(key);
  assert.equal(mails.length, 1);
  const m = mails[0];
  assert.equal(m.get('X-Sink-Rcpt-To'), 'patient@example.test');
  assert.equal(m.get('To'), 'patient@example.test');
  assert.equal(m.get('From'), 'Good Clinic <noreply@clinic.example>');
  assert.equal(m.subject, 'Appointment reminder from Good Clinic');
  assert.match(m.body, /https:\/\/portal\.example\/#\/notifications\/[A-Za-z0-9_-]{43}/);
  for (const w of PHI_WORDS) {
    assert.ok(!m.raw.includes(w), `email carries "${w}"`);
  }
  const hooks = hooksFor(key);
  assert.equal(hooks.length, 1);
  const h = hooks[0];
  assert.ok(S.verifySignature(SECRET, h), 'signature verifies');
  assert.ok(!S.verifySignature('another-secret-entirely-000000', h));
  assert.equal(h.json.kind, 'appointment_reminder');
  assert.equal(h.json.user_id, uid);
  assert.equal(h.json.idempotency_key, `${key}.webhook`);
  assert.match(h.json.link, /^https:\/\/portal\.example\/#\/notifications\//);
  for (const w of PHI_WORDS) assert.ok(!h.body.includes(w), `webhook carries "${w}"`);

  // In the portal, the plugin's own words are shown.
  const c = await loginAs(d, 'patient.demo');
  let r = await c.get('/api/notifications');
  assert.equal(r.status, 200);
  const n = r.json.notifications.find((x) => x.id === id);
  assert.equal(n.title, PHI.title);
  assert.equal(n.body, PHI.body);
  assert.equal(n.kind, 'appointment_reminder');
  assert.equal(n.read, false);
  assert.match(n.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const unread = r.json.unread;
  assert.ok(unread >= 1);
  const other = await loginAs(d, 'patient2.demo');
  assert.equal((await other.post(`/api/notifications/${id}/read`)).status, 404);
  assert.ok(!(await other.get('/api/notifications')).json.notifications.some((x) => x.id === id));
  assert.equal((await c.post(`/api/notifications/${id}/read`)).status, 204);
  r = await c.get('/api/notifications');
  assert.equal(r.json.unread, unread - 1);
  assert.equal(r.json.notifications.find((x) => x.id === id).read, true);

  // The link in the email works once, for its recipient only.
  const token = m.body.match(/#\/notifications\/([A-Za-z0-9_-]{43})/)[1];
  assert.equal((await other.post('/api/notifications/open', { token })).status, 404);
  r = await c.post('/api/notifications/open', { token });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { id, link: null });
  assert.equal((await c.post('/api/notifications/open', { token })).status, 410);

  // Staff see the delivery log, without message text.
  const staff = await loginAs(d, 'staff.demo');
  r = await staff.get(`/api/admin/notifications?user_id=${uid}&limit=50`);
  assert.equal(r.status, 200);
  const mine = r.json.deliveries.filter((x) => x.outbox_id === id);
  assert.equal(mine.length, 3);
  for (const x of mine) {
    assert.deepEqual(Object.keys(x).sort(), ['attempts', 'channel', 'created_at', 'id', 'kind',
      'last_error', 'next_attempt_at', 'outbox_id', 'sent_at', 'status', 'user_id']);
    assert.equal(x.status, 'sent');
    assert.equal(x.attempts, x.channel === 'portal' ? 0 : 1);
  }
  assert.ok(!r.body.includes('Quimbyfield'));
  assert.equal((await c.get('/api/admin/notifications')).status, 403);
  assert.equal((await staff.get('/api/admin/notifications?status=bogus')).status, 400);
});

test('preferences are respected and validated; portal cannot be switched off', async () => {
  const c = await loginAs(d, 'patient2.demo');
  let r = await c.get('/api/notifications/preferences');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.preferences.appointment_reminder, ['portal', 'email', 'webhook']);
  assert.deepEqual(r.json.preferences.statement, ['portal']);
  assert.deepEqual(r.json.channels, ['portal', 'email', 'webhook']);
  assert.deepEqual(r.json.contacts.email, { address: 'patient2@example.test', verified: true, pending: null });
  assert.ok(!('email_verification' in r.json.preferences));

  r = await c.put('/api/notifications/preferences', { preferences: { appointment_reminder: ['email'] } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.preferences.appointment_reminder, ['portal', 'email']);
  assert.equal((await c.put('/api/notifications/preferences', { preferences: { nosuch: ['email'] } })).status, 400);
  r = await c.put('/api/notifications/preferences', { preferences: { statement: ['pigeon'] } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'unknown_channel');
  assert.equal((await c.put('/api/notifications/preferences', { preferences: { statement: 'email' } })).status, 400);
  assert.equal((await c.put('/api/notifications/preferences', { other: 1 })).status, 400);

  const uid = S.userId(d, 'patient2.demo');
  const a = S.queue(d, uid, 'appointment_reminder', 'appointment:2', PHI);
  let rows = S.byChannel(await waitSettled(a.id, 2));
  assert.equal(rows.email.status, 'sent');
  assert.equal(rows.webhook, undefined);
  assert.equal(hooksFor(a.key).length, 0);

  r = await c.put('/api/notifications/preferences', { preferences: { appointment_reminder: [] } });
  assert.deepEqual(r.json.preferences.appointment_reminder, ['portal']);
  const b = S.queue(d, uid, 'appointment_reminder', 'appointment:3', PHI);
  rows = await waitSettled(b.id, 1);
  assert.equal(rows[0].channel, 'portal');
  assert.equal(mailFor(b.key).length, 0);
});

test('a notification cancelled before it is due is never sent', async () => {
  const uid = S.userId(d, 'patient.demo');
  const now = Math.floor(Date.now() / 1000);
  const a = S.queue(d, uid, 'appointment_reminder', 'appointment:77', PHI, now + 2);
  S.cancel(d, 'appointment:77');
  await S.sleep(3500);
  assert.equal(S.deliveries(d, a.id).length, 0);
  assert.equal(S.sqlJson(d.dbPath, `SELECT status FROM outbox WHERE id = ${a.id}`)[0].status, 'cancelled');
  assert.equal(mailFor(a.key).length, 0);
  assert.equal(hooksFor(a.key).length, 0);
});

test('email goes only to a verified address; a webhook 500 is retried with the same key and body', async () => {
  const uid = S.addPatient(d, 'Una Verified', null);
  S.sqlJson(d.dbPath, `UPDATE users SET email = 'unverified@example.test' WHERE id = ${uid}`);
  modes.set(uid, (r, mine) => (mine.length === 1 ? 500 : 200));
  const a = S.queue(d, uid, 'appointment_reminder', 'appointment:4', PHI);
  const rows = S.byChannel(await waitSettled(a.id, 3));
  assert.equal(rows.email.status, 'suppressed');
  assert.equal(rows.email.last_error, 'no verified email address');
  assert.equal(mailsTo('unverified@example.test').length, 0);
  assert.equal(rows.webhook.status, 'sent');
  assert.equal(rows.webhook.attempts, 2);
  const hooks = hooksFor(a.key);
  assert.equal(hooks.length, 2);
  assert.equal(hooks[0].body, hooks[1].body);
  assert.equal(hooks[0].headers['x-atrium-signature'], hooks[1].headers['x-atrium-signature']);
  assert.ok(S.verifySignature(SECRET, hooks[1]));
});

test('a webhook that never answers is abandoned after the timeout and retried', async () => {
  const uid = S.addPatient(d, 'Tim Eout', null);
  modes.set(uid, (r, mine) => (mine.length === 1 ? 'hang' : 200));
  const a = S.queue(d, uid, 'appointment_reminder', 'appointment:5', PHI);
  const rows = S.byChannel(await waitSettled(a.id, 3));
  assert.equal(rows.webhook.status, 'sent');
  assert.equal(rows.webhook.attempts, 2);
  const hooks = hooksFor(a.key);
  assert.equal(hooks.length, 2);
  const gap = hooks[1].at - hooks[0].at;
  assert.ok(gap >= 900 && gap < 6000, `retry after ${gap} ms`);
  assert.match(d.stderr, /webhook did not answer within 1s/);
  // The daemon kept serving meanwhile.
  assert.equal((await loginAs(d, 'patient.demo')).user.username, 'patient.demo');
});

test('after max_attempts a delivery fails with the reason and notification.failed runs', async () => {
  const uid = S.addPatient(d, 'Al Ways500', null);
  modes.set(uid, () => 503);
  const a = S.queue(d, uid, 'appointment_reminder', 'appointment:6', PHI);
  const rows = S.byChannel(await waitSettled(a.id, 3));
  assert.equal(rows.webhook.status, 'failed');
  assert.equal(rows.webhook.attempts, 4);
  assert.equal(rows.webhook.last_error, 'webhook answered 503');
  assert.equal(hooksFor(a.key).length, 4);
  assert.equal(S.sqlJson(d.dbPath, `SELECT status FROM outbox WHERE id = ${a.id}`)[0].status, 'sent');
  // The workflow handler of notification.failed queued a follow-up.
  await S.waitFor('failure follow-up', () =>
    S.sqlJson(d.dbPath, `SELECT id FROM outbox WHERE ref = 'failed:${a.id}' AND user_id = ${uid}`).length === 1);
  const staff = await loginAs(d, 'staff.demo');
  const r = await staff.get('/api/admin/notifications?status=failed');
  assert.ok(r.json.deliveries.some((x) => x.outbox_id === a.id && x.last_error === 'webhook answered 503'));
});

test('a workflow rule can move a delivery to another channel, without the portal detail', async () => {
  const uid = S.addPatient(d, 'Mo Ved', 'moved@example.test');
  S.sqlJson(d.dbPath, `INSERT INTO notify_preferences (user_id, kind, channels, updated_at) VALUES (${uid}, 'statement', 'portal,webhook', 0)`);
  const a = S.queue(d, uid, 'statement', 'move', PHI);
  const rows = await waitSettled(a.id, 2);
  assert.deepEqual(rows.map((r) => [r.channel, r.status]), [['email', 'sent'], ['portal', 'sent']]);
  assert.equal(hook.requests.filter((r) => r.json && r.json.user_id === uid).length, 0);
  const m = mailsTo('moved@example.test');
  assert.equal(m.length, 1);
  assert.equal(m[0].subject, 'New statement from Good Clinic');
  for (const w of PHI_WORDS) assert.ok(!m[0].raw.includes(w), `email carries "${w}"`);
});

test('a workflow rule can suppress a notification; CR/LF put in by a rule or data never reach a header', async () => {
  const uid = S.userId(d, 'patient.demo');
  const s = S.queue(d, uid, 'appointment_reminder', 'suppress-me', PHI);
  const srows = await waitSettled(s.id, 3);
  for (const r of srows) {
    assert.equal(r.status, 'suppressed');
    assert.match(r.last_error, /^suppressed by a workflow rule/);
  }
  assert.equal(mailFor(s.key).length, 0);
  assert.equal(hooksFor(s.key).length, 0);

  const data = { title: 'Line one\r\nBcc: evil@attacker.example', body: 'ok' };
  const a = S.queue(d, uid, 'appointment_reminder', 'inject', data);
  await waitSettled(a.id, 3);
  const m = mailFor(a.key)[0];
  assert.equal(m.get('X-Sink-Rcpt-To'), 'patient@example.test');
  assert.equal(m.subject, 'HelloBcc: evil@attacker.example');
  assert.ok(!m.headers.some(([k]) => k.toLowerCase() === 'bcc'));
  assert.ok(!/\r\nBcc:/i.test(m.head));
  const c = await loginAs(d, 'patient.demo');
  const n = (await c.get('/api/notifications?limit=200')).json.notifications.find((x) => x.id === a.id);
  assert.equal(n.title, 'Line oneBcc: evil@attacker.example');
});

test('the rate limit defers what is over it instead of dropping it', async () => {
  const uid = S.addPatient(d, 'Ray Tlimit', 'ray@example.test');
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push(S.queue(d, uid, 'appointment_reminder', `appointment:r${i}`, PHI).id);
  await S.waitFor('rate-limited deliveries', () => {
    const rows = S.sqlJson(d.dbPath, `SELECT channel, status FROM notify_deliveries WHERE user_id = ${uid}`);
    return rows.length === 12 && rows.filter((r) => r.status === 'sent').length === 10 &&
      rows.filter((r) => r.status === 'deferred').length === 2;
  }, 15000);
  const deferred = S.sqlJson(d.dbPath,
    `SELECT channel, last_error, next_attempt_at FROM notify_deliveries WHERE user_id = ${uid} AND status = 'deferred'`);
  const now = Date.now() / 1000;
  assert.deepEqual(deferred.map((r) => r.channel).sort(), ['email', 'webhook']);
  for (const r of deferred) {
    assert.equal(r.last_error, 'rate limit');
    assert.ok(r.next_attempt_at > now + 3500 && r.next_attempt_at < now + 3700);
  }
  assert.equal(mailsTo('ray@example.test').length, 3);
  // Portal is not rate limited.
  assert.equal(S.sqlJson(d.dbPath,
    `SELECT COUNT(*) AS n FROM notify_deliveries WHERE user_id = ${uid} AND channel = 'portal' AND status = 'sent'`)[0].n, 4);
  // Once the hour has passed it goes out.
  S.sqlJson(d.dbPath, `UPDATE notify_deliveries SET sent_at = sent_at - 3600 WHERE user_id = ${uid} AND status = 'sent';` +
    `UPDATE notify_deliveries SET next_attempt_at = 0 WHERE user_id = ${uid} AND status = 'deferred'`);
  await S.waitFor('deferred deliveries sent', () =>
    S.sqlJson(d.dbPath, `SELECT COUNT(*) AS n FROM notify_deliveries WHERE user_id = ${uid} AND status = 'sent'`)[0].n === 12);
  assert.equal(mailsTo('ray@example.test').length, 4);
});

test('an SMTP server dropping the connection mid-delivery leads to one delivery once it is back', async () => {
  await sink.stop();
  const dying = await S.startSink(smtpPort, sink.dir, { die: 1 });
  const uid = S.userId(d, 'patient.demo');
  const a = S.queue(d, uid, 'new_message', 'message:9', { body: 'Your biopsy result is in' });
  await dying.exited; // it died on the data of the first attempt
  sink = await S.startSink(smtpPort, sink.dir);
  const rows = S.byChannel(await waitSettled(a.id, 2));
  assert.equal(rows.email.status, 'sent');
  assert.ok(rows.email.attempts >= 2, `attempts ${rows.email.attempts}`);
  await S.sleep(1000);
  const mails = mailFor(a.key);
  assert.equal(mails.length, 1);
  assert.equal(mails[0].subject, 'New message from Good Clinic');
  assert.ok(!mails[0].raw.includes('biopsy'));
});

test('an email address is confirmed by a single-use link before it is used', async () => {
  const c = await loginAs(d, 'patient2.demo');
  assert.equal((await c.post('/api/notifications/email', { address: 'not-an-address' })).status, 400);
  assert.equal((await c.post('/api/notifications/email', { address: 'a b@example.test' })).status, 400);
  assert.equal((await c.post('/api/notifications/email', { address: 'x@example.test\r\nBcc: e@evil.example' })).status, 400);
  assert.equal((await c.post('/api/notifications/email', { address: '<x@example.test>' })).status, 400);
  let r = await c.post('/api/notifications/email', { address: 'new2@example.test' });
  assert.equal(r.status, 202);
  assert.equal(r.json.address, 'new2@example.test');
  r = await c.get('/api/notifications/preferences');
  assert.deepEqual(r.json.contacts.email,
    { address: 'patient2@example.test', verified: true, pending: 'new2@example.test' });
  const m = await S.waitFor('confirmation email', () => mailsTo('new2@example.test')[0]);
  assert.equal(m.subject, 'Confirm your email address for Good Clinic');
  const token = m.body.match(/https:\/\/portal\.example\/#\/notifications\/verify\/([A-Za-z0-9_-]{43})/)[1];
  const other = await loginAs(d, 'patient.demo');
  assert.equal((await other.post('/api/notifications/email/verify', { token })).status, 400);
  assert.equal((await c.post('/api/notifications/email/verify', { token: token.slice(1) + 'A' })).status, 400);
  r = await c.post('/api/notifications/email/verify', { token });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.contacts.email, { address: 'new2@example.test', verified: true, pending: null });
  assert.equal((await c.post('/api/notifications/email/verify', { token })).status, 400);
  // The message text with the token is not kept once sent.
  const row = S.sqlJson(d.dbPath,
    "SELECT status, body, link FROM notify_deliveries WHERE kind = 'email_verification' AND address = 'new2@example.test'")[0];
  assert.deepEqual(row, { status: 'sent', body: null, link: null });
  const stored = S.sqlJson(d.dbPath, "SELECT token_hash FROM notify_email_tokens WHERE address = 'new2@example.test'")[0];
  assert.notEqual(stored.token_hash, token);
});
