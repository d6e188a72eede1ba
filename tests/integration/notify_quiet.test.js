// Quiet hours (in the practice time zone), cancellation of a held
// notification, header safety of the practice name, and the practice's own
// templates from the theme (replacing, translating, refused when unsafe).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startDaemon, loginAs, freePort, ROOT } = require('./lib');
const S = require('./notify_support');

const TZ = 'Asia/Kolkata'; // UTC+05:30: a half-hour offset shows the zone is used
const SECRET = 'webhook-secret-for-tests-0123456789';

// "HH:MM" in the practice zone, t in ms.
function hhmm(t) {
  return new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
    .format(new Date(t));
}

// A copy of the default theme named `name` with notification templates.
function theme(dir, name, files) {
  const root = path.join(dir, 'themes', name);
  fs.cpSync(path.join(ROOT, 'themes', 'default'), root, { recursive: true });
  fs.cpSync(path.join(ROOT, 'themes', 'shell'), path.join(dir, 'themes', 'shell'), { recursive: true });
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, 'notifications', rel)), { recursive: true });
    fs.writeFileSync(path.join(root, 'notifications', rel), text);
  }
  return path.join(dir, 'themes');
}

let d, sink, hook, dir, quietEnd;
const start = Date.now();

before(async () => {
  dir = S.tmpDir('atrium-quiet-');
  const smtpPort = await freePort();
  sink = await S.startSink(smtpPort, path.join(dir, 'mail'));
  hook = await S.startReceiver(() => 200);
  quietEnd = Math.floor((start + 61 * 60000) / 60000) * 60; // epoch seconds
  d = await startDaemon({
    config: {
      server: {
        base_url: 'https://portal.example', theme: 'custom',
        themes_dir: theme(dir, 'custom', {
          'en/appointment_reminder.txt': 'Visit reminder - {{practice_name}}\n\nPlease sign in: {{link}}\n',
          'de/appointment_reminder.txt': 'Terminerinnerung - {{practice_name}}\n\nBitte melden Sie sich an: {{link}}\n',
        }),
      },
      practice: { name: 'Evil Clinic\rBcc: victim@evil.example', timezone: TZ },
      notify: {
        email: 'on', smtp_url: `smtp://127.0.0.1:${smtpPort}`, smtp_from: 'noreply@clinic.example',
        smtp_starttls: 'off', webhook: 'on', webhook_url: `http://127.0.0.1:${hook.port}/hook`,
        webhook_secret: SECRET, timeout: 1, retry_base: 1, retry_max: 2,
        quiet_start: hhmm(start - 60 * 60000), quiet_end: hhmm(quietEnd * 1000),
        defaults: '*:portal+email+webhook',
      },
    },
  });
});

after(async () => {
  if (d) await d.stop();
  if (sink) await sink.stop();
  if (hook) await hook.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function waitStatus(id, want) {
  return S.waitFor(`deliveries of ${id}`, () => {
    const rows = S.byChannel(S.deliveries(d, id));
    return Object.entries(want).every(([ch, st]) => rows[ch] && rows[ch].status === st) ? rows : null;
  });
}

test('quiet hours in the practice time zone hold email and webhook until they end; the portal is immediate', async () => {
  const uid = S.userId(d, 'patient.demo');
  const a = S.queue(d, uid, 'appointment_reminder', 'appointment:q1', {});
  const rows = await waitStatus(a.id, { portal: 'sent', email: 'deferred', webhook: 'deferred' });
  for (const ch of ['email', 'webhook']) {
    assert.equal(rows[ch].last_error, 'quiet hours');
    assert.equal(rows[ch].attempts, 0);
    assert.equal(rows[ch].next_attempt_at, quietEnd, `${ch} waits for the end of quiet hours`);
  }
  await S.sleep(1200);
  assert.equal(sink.messages().length, 0);
  assert.equal(hook.requests.length, 0);
  // The theme's own template is used, in the portal too.
  const c = await loginAs(d, 'patient.demo');
  const n = (await c.get('/api/notifications')).json.notifications.find((x) => x.id === a.id);
  assert.equal(n.title, 'Visit reminder - Evil ClinicBcc: victim@evil.example');
  // Looked at again while it is still quiet, it is held again.
  S.sqlJson(d.dbPath, `UPDATE notify_deliveries SET next_attempt_at = 0 WHERE outbox_id = ${a.id} AND channel = 'email'`);
  await S.waitFor('email held again', () => S.byChannel(S.deliveries(d, a.id)).email.next_attempt_at === quietEnd);
  assert.equal(S.byChannel(S.deliveries(d, a.id)).email.status, 'deferred');
  assert.equal(sink.messages().length, 0);
});

test('a notification cancelled while held by quiet hours is never sent', async () => {
  const uid = S.userId(d, 'patient.demo');
  const a = S.queue(d, uid, 'appointment_reminder', 'appointment:q2', {});
  await waitStatus(a.id, { email: 'deferred', webhook: 'deferred' });
  S.cancel(d, 'appointment:q2');
  // Quiet hours end (by hand): the held deliveries are looked at again.
  S.sqlJson(d.dbPath, `UPDATE notify_deliveries SET next_attempt_at = 0 WHERE outbox_id = ${a.id}`);
  const rows = await waitStatus(a.id, { email: 'cancelled', webhook: 'cancelled' });
  assert.equal(rows.portal.status, 'sent');
  assert.equal(sink.messages().length, 0);
  assert.equal(hook.requests.length, 0);
});

test('a template in the patient\'s language is used when the notification names one', async () => {
  const uid = S.userId(d, 'patient.demo');
  const a = S.queue(d, uid, 'appointment_reminder', 'appointment:q3', { lang: 'de' });
  await waitStatus(a.id, { portal: 'sent' });
  const c = await loginAs(d, 'patient.demo');
  const n = (await c.get('/api/notifications')).json.notifications.find((x) => x.id === a.id);
  assert.equal(n.title, 'Terminerinnerung - Evil ClinicBcc: victim@evil.example');
  const b = S.queue(d, uid, 'statement', 'statement:q3', { lang: 'fr' });
  await waitStatus(b.id, { portal: 'sent' });
  const m = (await c.get('/api/notifications')).json.notifications.find((x) => x.id === b.id);
  assert.equal(m.title, 'New statement from Evil ClinicBcc: victim@evil.example');
});

test('the confirmation email is not held by quiet hours, and CR in the practice name cannot add a header', async () => {
  const c = await loginAs(d, 'patient2.demo');
  assert.equal((await c.post('/api/notifications/email', { address: 'robin@example.test' })).status, 202);
  const m = await S.waitFor('confirmation email', () => sink.messages()[0]);
  assert.equal(m.get('X-Sink-Rcpt-To'), 'robin@example.test');
  assert.ok(!m.headers.some(([k]) => /^bcc$/i.test(k)), 'no Bcc header');
  assert.ok(!m.head.includes('\r\nBcc'));
  assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(m.head), 'no bare CR or LF in the header');
  assert.equal(m.subject, 'Confirm your email address for Evil ClinicBcc: victim@evil.example');
  assert.match(m.get('From'), /^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?= <noreply@clinic\.example>$/);
  assert.equal(m.decodeWords(m.get('From')), 'Evil ClinicBcc: victim@evil.example<noreply@clinic.example>');
});

test('an oversized template or one with an unknown placeholder refuses to start, naming the file', async () => {
  const bad = [
    ['en/statement.txt', `Statement\n\n${'x'.repeat(70)}\n`.repeat(130), /larger than 8192 bytes/],
    ['en/statement.txt', 'Statement from {{practice_name}}\n\nDue: {{amount}} {{link}}\n', /only \{\{practice_name\}\} and \{\{link\}\}/],
    ['en/statement.txt', 'Statement\r\nBcc: x@y.z\n\nbody\n', /title line, an empty line and a body/],
  ];
  for (const [i, [rel, text, why]] of bad.entries()) {
    const themes = theme(dir, `bad${i}`, { [rel]: text });
    await assert.rejects(
      startDaemon({ config: { server: { theme: `bad${i}`, themes_dir: themes } } }),
      (e) => {
        assert.match(e.message, why);
        assert.ok(e.message.includes(`bad${i}/notifications/en/statement.txt`), e.message);
        return true;
      });
  }
});
