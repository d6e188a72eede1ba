// Helpers shared by the notification tests (notify*.test.js): the SMTP sink
// (smtp_sink.py) as a child process, a webhook receiver on loopback, a small
// RFC 5322 reader, and SQL shortcuts that queue outbox rows the way a plugin
// does through the host API. Not a test file itself.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const SINK = path.join(__dirname, 'smtp_sink.py');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, timeoutMs = 10000, stepMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(stepMs);
  }
}

// ---- SMTP sink ------------------------------------------------------------

function parseEmail(raw) {
  const text = raw.toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  const head = text.slice(0, split);
  let body = text.slice(split + 4);
  const lines = head.split('\r\n');
  const headers = [];
  for (const l of lines) {
    if (/^[ \t]/.test(l) && headers.length) headers[headers.length - 1][1] += l.replace(/^[ \t]+/, ' ');
    else {
      const i = l.indexOf(':');
      headers.push([l.slice(0, i), l.slice(i + 1).trim()]);
    }
  }
  const get = (name) => {
    const h = headers.find(([k]) => k.toLowerCase() === name.toLowerCase());
    return h ? h[1] : undefined;
  };
  if ((get('Content-Transfer-Encoding') || '').toLowerCase() === 'base64')
    body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  const decodeWords = (v) => (v || '').replace(/=\?UTF-8\?B\?([^?]*)\?=\s*/gi,
    (_, b) => Buffer.from(b, 'base64').toString('utf8'));
  return { raw: text, head, headers, get, body, subject: decodeWords(get('Subject')), decodeWords };
}

// startSink({die, hang}) -> {port, dir, messages(), stop(), restart(opts), exited}
async function startSink(port, dir, opts = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const args = [SINK, String(port), dir];
  if (opts.die) args.push('--die-on-data', String(opts.die));
  if (opts.hang) args.push('--hang-on-data', String(opts.hang));
  const proc = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  proc.stdout.on('data', (b) => { out += b; });
  proc.stderr.on('data', (b) => { err += b; });
  const exited = new Promise((res) => proc.on('exit', (code) => res(code)));
  await Promise.race([
    waitFor('smtp sink', () => out.includes('ready'), 10000, 20),
    exited.then((c) => { throw new Error(`smtp sink exited ${c}: ${err}`); }),
  ]);
  return {
    port, dir, proc, exited,
    messages() {
      return fs.readdirSync(dir).filter((f) => f.endsWith('.eml')).sort()
        .map((f) => parseEmail(fs.readFileSync(path.join(dir, f))));
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGTERM'); await exited; }
    },
  };
}

// ---- webhook receiver -----------------------------------------------------

// decide(req) -> status number, or 'hang' (never answer). Every request is
// recorded as {headers, body, json, at} before deciding.
async function startReceiver(decide) {
  const requests = [];
  const hung = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json = null;
      try { json = JSON.parse(body); } catch (_) { /* recorded as is */ }
      const r = { headers: req.headers, body, json, at: Date.now(), url: req.url };
      requests.push(r);
      const verdict = decide(r, requests);
      if (verdict === 'hang') { hung.push(res); return; }
      res.writeHead(verdict || 200, { 'Content-Type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port, requests,
    close: () => new Promise((r) => {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

function verifySignature(secret, r) {
  const want = 'sha256=' + crypto.createHmac('sha256', secret).update(r.body).digest('hex');
  const got = r.headers['x-atrium-signature'] || '';
  return got.length === want.length && crypto.timingSafeEqual(Buffer.from(got), Buffer.from(want));
}

// ---- database shortcuts ---------------------------------------------------

function sqlJson(dbPath, sql) {
  const r = spawnSync('sqlite3', ['-json', '-cmd', '.timeout 5000', dbPath, sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3: ${r.stderr}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : [];
}

const q = (s) => (s === null || s === undefined ? 'NULL' : `'${String(s).replace(/'/g, "''")}'`);

function addPatient(d, name, email) {
  const rows = sqlJson(d.dbPath,
    `INSERT INTO users (display_name, role, email, email_verified) VALUES (${q(name)}, 'patient', ` +
    `${q(email)}, ${email ? 1 : 0}) RETURNING id`);
  return rows[0].id;
}

function userId(d, username) {
  return sqlJson(d.dbPath, `SELECT id FROM users WHERE username = ${q(username)}`)[0].id;
}

// What outbox_queue (core/api.c) inserts for a plugin.
function queue(d, uid, kind, ref, data = {}, notBefore = 0) {
  const now = Math.floor(Date.now() / 1000);
  const key = crypto.randomBytes(32).toString('base64url');
  const rows = sqlJson(d.dbPath,
    `INSERT INTO outbox (user_id, kind, ref, data, source, not_before, created_at, idempotency_key) ` +
    `VALUES (${uid}, ${q(kind)}, ${q(ref)}, ${q(JSON.stringify(data))}, 'test', ` +
    `${notBefore || now}, ${now}, ${q(key)}) RETURNING id`);
  return { id: rows[0].id, key };
}

// What outbox_cancel (core/api.c) does.
function cancel(d, ref) {
  sqlJson(d.dbPath, `UPDATE outbox SET status = 'cancelled' WHERE ref = ${q(ref)} AND status = 'queued'`);
}

function deliveries(d, outboxId) {
  return sqlJson(d.dbPath, `SELECT * FROM notify_deliveries WHERE outbox_id = ${outboxId} ORDER BY channel`);
}

const byChannel = (rows) => Object.fromEntries(rows.map((r) => [r.channel, r]));

function tmpDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

module.exports = {
  sleep, waitFor, parseEmail, startSink, startReceiver, verifySignature, sqlJson,
  addPatient, userId, queue, cancel, deliveries, byChannel, tmpDir,
};
