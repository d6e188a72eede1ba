// Delivery across a crash of atriumd and against an SMTP server that hangs:
// waits are bounded, the attempt is retried, and a retry carries the same
// idempotency key as the attempt it repeats.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startDaemon, freePort } = require('./lib');
const S = require('./notify_support');

const SECRET = 'webhook-secret-for-tests-0123456789';
let d, sink, hook, dir, smtpPort, onRequest = null;
let decide = () => 200;

before(async () => {
  dir = S.tmpDir('atrium-crash-');
  smtpPort = await freePort();
  sink = await S.startSink(smtpPort, path.join(dir, 'mail'), { hang: 1 });
  hook = await S.startReceiver((r, all) => {
    if (onRequest) onRequest(r);
    return decide(r, all);
  });
  d = await startDaemon({
    config: {
      server: { base_url: 'https://portal.example' },
      notify: {
        email: 'on', smtp_url: `smtp://127.0.0.1:${smtpPort}`, smtp_from: 'noreply@clinic.example',
        smtp_starttls: 'off', webhook: 'on', webhook_url: `http://127.0.0.1:${hook.port}/hook`,
        webhook_secret: SECRET, timeout: 1, retry_base: 1, retry_max: 2,
        quiet_start: '00:00', quiet_end: '00:00',
        defaults: 'appointment_reminder:portal+webhook,new_message:portal+email',
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

test('an SMTP server that never answers is given up on after the timeout, and the retry delivers once', async () => {
  const uid = S.userId(d, 'patient.demo');
  const a = S.queue(d, uid, 'new_message', 'message:h1', {});
  const rows = await S.waitFor('email sent', () => {
    const r = S.byChannel(S.deliveries(d, a.id));
    return r.email && r.email.status === 'sent' ? r : null;
  }, 15000);
  assert.equal(rows.email.attempts, 2);
  assert.match(d.stderr, /smtp server did not answer within 1s/);
  const mails = sink.messages();
  assert.equal(mails.length, 1);
  assert.equal(mails[0].get('Message-ID').split('@')[0], `<${a.key}.email`);
});

test('a delivery interrupted by a crash is retried after its lease with the same idempotency key', async () => {
  const uid = S.userId(d, 'patient2.demo');
  let killed = null;
  decide = () => 'hang';
  onRequest = () => { if (!killed) killed = d.stop('SIGKILL'); };
  const a = S.queue(d, uid, 'appointment_reminder', 'appointment:c1', {});
  await S.waitFor('the first attempt', () => killed !== null, 10000);
  await killed;
  const before = S.byChannel(S.deliveries(d, a.id));
  assert.equal(before.webhook.status, 'sending', 'the crash left the claim behind');
  assert.equal(before.portal.status, 'sent');
  decide = () => 200;
  onRequest = null;
  await d.restart();
  const rows = await S.waitFor('webhook sent after restart', () => {
    const r = S.byChannel(S.deliveries(d, a.id));
    return r.webhook.status === 'sent' ? r : null;
  }, 20000);
  assert.equal(rows.webhook.attempts, 2);
  const hooks = hook.requests.filter((r) => r.json && r.json.idempotency_key === `${a.key}.webhook`);
  assert.equal(hooks.length, 2);
  assert.equal(hooks[0].headers['x-atrium-idempotency-key'], hooks[1].headers['x-atrium-idempotency-key']);
  assert.equal(hooks[0].body, hooks[1].body);
  assert.ok(S.verifySignature(SECRET, hooks[1]));
  // Not before the lease of the interrupted attempt ran out (2 x timeout + 5 s).
  assert.ok(hooks[1].at - hooks[0].at >= 6000, `retried after ${hooks[1].at - hooks[0].at} ms`);
  // The portal copy was not made twice.
  assert.equal(S.deliveries(d, a.id).filter((r) => r.channel === 'portal').length, 1);
});
