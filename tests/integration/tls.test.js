// HTTPS: a self-signed certificate made here with openssl, atriumd started
// with [server] tls_cert / tls_key, a TLS 1.2 and 1.3 handshake, TLS 1.1
// refused by the server, and the session cookie then Secure with the
// __Host- prefix. lib.startDaemon polls over plain http, so this file starts
// its daemon itself.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const lib = require('./lib.js');

let d;

function makeCert(dir) {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
    '-days', '1', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  return { cert, key };
}

function req(method, p, { body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    let payload = null;
    if (body !== undefined) {
      payload = Buffer.from(JSON.stringify(body));
      h['Content-Type'] = 'application/json';
      h['Content-Length'] = payload.length;
    }
    const r = https.request({ host: '127.0.0.1', port: d.port, method, path: p, headers: h,
      rejectUnauthorized: false, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch (_) { /* not json */ }
        resolve({ status: res.statusCode, headers: res.headers, json, body: text,
          protocol: res.socket && res.socket.getProtocol && res.socket.getProtocol() });
      });
    });
    r.on('error', reject);
    r.setTimeout(10000, () => r.destroy(new Error('timeout')));
    if (payload) r.write(payload);
    r.end();
  });
}

function handshake(opts) {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: d.port, rejectUnauthorized: false, servername: 'localhost', ...opts }, () => {
      const proto = s.getProtocol();
      s.end();
      resolve({ ok: true, proto });
    });
    s.on('error', (e) => resolve({ ok: false, error: e }));
    s.setTimeout(5000, () => { s.destroy(); resolve({ ok: false, error: new Error('timeout') }); });
  });
}

test.before(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atrium-tls-'));
  const { cert, key } = makeCert(dir);
  const port = await lib.freePort();
  const config = lib.writeConfig(dir, port, { server: { tls_cert: cert, tls_key: key } });
  const init = lib.runCli(['--config', config, '--init-demo']);
  if (init.status !== 0) throw new Error(init.stderr);
  d = { dir, port, config, cert, key, demo: lib.parseDemo(init.stdout), url: `https://127.0.0.1:${port}`, stderr: '' };
  d.proc = spawn(lib.ATRIUMD, ['--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  d.proc.stderr.on('data', (b) => { d.stderr += b; });
  d.proc.stdout.on('data', () => {});
  d.exited = new Promise((res) => d.proc.on('exit', res));
  const deadline = Date.now() + 10000;
  for (;;) {
    try {
      if ((await req('GET', '/healthz')).status === 200) break;
    } catch (_) { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`atriumd (tls) did not answer: ${d.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
});

test.after(async () => {
  if (d && d.proc) {
    d.proc.kill('SIGTERM');
    await d.exited;
  }
});

test('the daemon speaks HTTPS with TLS 1.2 and 1.3', async () => {
  const r = await req('GET', '/healthz');
  assert.equal(r.status, 200);
  assert.match(r.headers['strict-transport-security'], /max-age=\d+/);
  const v12 = await handshake({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  assert.ok(v12.ok, v12.error && v12.error.message);
  assert.equal(v12.proto, 'TLSv1.2');
  const v13 = await handshake({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
  assert.ok(v13.ok, v13.error && v13.error.message);
  assert.equal(v13.proto, 'TLSv1.3');
});

test('a TLS 1.1 client is refused by the server', async () => {
  const old = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' };
  // Control: this client does complete TLS 1.1 with a server that allows
  // it, so a failure below is atriumd's refusal, not a local one.
  const control = tls.createServer({ key: fs.readFileSync(d.key), cert: fs.readFileSync(d.cert), ...old },
    (s) => s.end());
  await new Promise((r) => control.listen(0, '127.0.0.1', r));
  const ok = await handshake({ ...old, port: control.address().port });
  control.close();
  assert.ok(ok.ok, `control handshake failed: ${ok.error && ok.error.message}`);
  assert.equal(ok.proto, 'TLSv1.1');
  const r = await handshake(old);
  assert.equal(r.ok, false, `negotiated ${r.proto}`);
  assert.match(`${r.error.code} ${r.error.message}`, /ECONNRESET|alert|protocol version|wrong version/i);
});

test('plain http on the TLS port gets no answer in the clear', async () => {
  const r = await lib.request(d, 'GET', '/healthz').catch((e) => ({ error: e }));
  assert.ok(r.error || r.status !== 200);
});

test('over TLS the session cookie is Secure and __Host- prefixed, and signing in works end to end', async () => {
  const login = await req('POST', '/api/auth/login', {
    body: { username: 'patient.demo', password: d.demo.accounts['patient.demo'] }, headers: { Origin: d.url },
  });
  assert.equal(login.status, 200, login.body);
  const set = login.headers['set-cookie'].find((c) => c.startsWith('__Host-atrium_session='));
  assert.ok(set, `cookies: ${login.headers['set-cookie']}`);
  const attrs = set.split(';').map((s) => s.trim());
  for (const a of ['Secure', 'HttpOnly', 'SameSite=Strict', 'Path=/']) assert.ok(attrs.includes(a), a);
  assert.ok(!attrs.some((a) => /^domain=/i.test(a)), '__Host- cookies carry no Domain');
  assert.ok(login.headers['set-cookie'].some((c) => c.startsWith('__Host-atrium_device=') && /; Secure/.test(c)));
  const cookie = set.split(';')[0];
  const me = await req('GET', '/api/auth/me', { headers: { Cookie: cookie } });
  assert.equal(me.status, 200);
  // The cookie without the prefix is not honoured over TLS.
  const bare = cookie.replace('__Host-', '');
  assert.equal((await req('GET', '/api/auth/me', { headers: { Cookie: bare } })).status, 401);
  // CSRF: the https origin is the same origin; the http one is not.
  const csrf = me.json.csrf_token;
  const ok = await req('DELETE', '/api/auth/sessions/999999', { headers: { Cookie: cookie, 'X-CSRF-Token': csrf, Origin: d.url } });
  assert.equal(ok.status, 404);
  const httpOrigin = await req('DELETE', '/api/auth/sessions/999999', {
    headers: { Cookie: cookie, 'X-CSRF-Token': csrf, Origin: d.url.replace('https:', 'http:') },
  });
  assert.equal(httpOrigin.status, 403);
});
