// Shared harness for integration tests: starts a real atriumd on a free
// loopback port with a temporary database and config, and gives a small
// HTTP client that keeps the session cookie and CSRF token like a browser.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const crypto = require('node:crypto');

const ROOT = path.resolve(__dirname, '..', '..');
const BUILD = process.env.BUILD || path.join(ROOT, 'build');
const ATRIUMD = path.join(BUILD, 'atriumd');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// sections: { server: {...}, auth: {...}, plugins: {...}, 'plugin.x': {...} }
function writeConfig(dir, port, sections = {}) {
  const base = {
    server: {
      address: '127.0.0.1', port, themes_dir: path.join(ROOT, 'themes'),
      plugin_dir: path.join(BUILD, 'plugins'), shutdown_grace: 5,
    },
    database: { path: path.join(dir, 'atrium.db') },
    // Cheap hashing keeps tests fast; production defaults are checked in
    // the crypto unit tests.
    auth: { password_ops: 1, password_mem_kib: 8192 },
    workflows: { dir: path.join(dir, 'workflows') },
    plugins: {},
  };
  for (const [sec, kv] of Object.entries(sections)) {
    if (kv === null) { delete base[sec]; continue; }
    base[sec] = Object.assign(base[sec] || {}, kv);
  }
  let text = '';
  for (const [sec, kv] of Object.entries(base)) {
    text += `[${sec}]\n`;
    for (const [k, v] of Object.entries(kv)) text += `${k} = ${v}\n`;
    text += '\n';
  }
  const file = path.join(dir, 'atrium.ini');
  fs.writeFileSync(file, text);
  return file;
}

function runCli(args, opts = {}) {
  return spawnSync(ATRIUMD, args, { encoding: 'utf8', timeout: 60000, ...opts });
}

// Parses "  user / password" and "  admin.demo totp secret: X" lines.
function parseDemo(stdout) {
  const accounts = {};
  let totp = null;
  for (const line of stdout.split('\n')) {
    let m = line.match(/^\s+(\S+) \/ (\S+)$/);
    if (m) accounts[m[1]] = m[2];
    m = line.match(/^\s+admin\.demo totp secret: (\S+)$/);
    if (m) totp = m[1];
  }
  return { accounts, adminTotp: totp };
}

async function startDaemon(opts = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atrium-it-'));
  fs.mkdirSync(path.join(dir, 'workflows'), { recursive: true });
  for (const [name, text] of Object.entries(opts.workflows || {}))
    fs.writeFileSync(path.join(dir, 'workflows', name), text);
  const port = await freePort();
  const config = writeConfig(dir, port, opts.config || {});
  let demo = null;
  if (opts.demo !== false) {
    const r = runCli(['--config', config, '--init-demo']);
    if (r.status !== 0) throw new Error(`--init-demo failed: ${r.stderr}`);
    demo = parseDemo(r.stdout);
  }
  const d = {
    dir, port, config, demo, url: `http://127.0.0.1:${port}`,
    dbPath: path.join(dir, 'atrium.db'), stderr: '', stdout: '',
    proc: null, exitCode: null,
  };
  await d_start(d, opts);
  d.stop = (sig = 'SIGTERM') => stopDaemon(d, sig);
  d.restart = async () => { await stopDaemon(d); await d_start(d, opts); };
  return d;
}

async function d_start(d, opts) {
  d.proc = spawn(ATRIUMD, ['--config', d.config], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(opts.env || {}) },
  });
  d.exitCode = null;
  d.proc.stdout.on('data', (b) => { d.stdout += b; });
  d.proc.stderr.on('data', (b) => { d.stderr += b; });
  d.exited = new Promise((res) => d.proc.on('exit', (code, sig) => {
    d.exitCode = code; d.exitSignal = sig; res(code);
  }));
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    if (d.exitCode !== null) throw new Error(`atriumd exited: ${d.stderr}`);
    try {
      const r = await request(d, 'GET', '/healthz');
      if (r.status === 200) return;
    } catch (_) { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`atriumd did not answer: ${d.stderr}`);
}

async function stopDaemon(d, sig = 'SIGTERM') {
  if (!d.proc || d.exitCode !== null) return d.exitCode;
  d.proc.kill(sig);
  const t = setTimeout(() => d.proc.kill('SIGKILL'), 15000);
  const code = await d.exited;
  clearTimeout(t);
  return code;
}

// Raw request: returns { status, headers, body (string), json }.
function request(d, method, p, { body, headers = {}, raw } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    let payload = null;
    if (body !== undefined) {
      payload = raw ? body : Buffer.from(JSON.stringify(body));
      if (!h['Content-Type'] && !raw) h['Content-Type'] = 'application/json';
      h['Content-Length'] = Buffer.byteLength(payload);
    }
    const req = http.request({ host: '127.0.0.1', port: d.port, method, path: p, headers: h,
      agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch (_) { /* not json */ }
        resolve({ status: res.statusCode, headers: res.headers, body: text, json });
      });
    });
    req.on('error', reject);
    req.setTimeout(30000, () => req.destroy(new Error('timeout')));
    if (payload) req.write(payload);
    req.end();
  });
}

// A signed-in client: keeps the cookie, sends CSRF token and Origin.
class Client {
  constructor(d) { this.d = d; this.cookie = null; this.csrf = null; this.user = null; }
  async call(method, p, body, extraHeaders = {}) {
    const headers = { ...extraHeaders };
    if (this.cookie) headers.Cookie = this.cookie;
    if (method !== 'GET' && method !== 'HEAD') {
      if (this.csrf && headers['X-CSRF-Token'] === undefined) headers['X-CSRF-Token'] = this.csrf;
      if (headers.Origin === undefined) headers.Origin = this.d.url;
    }
    for (const k of Object.keys(headers)) if (headers[k] === null) delete headers[k];
    const r = await request(this.d, method, p, { body, headers });
    const sc = r.headers['set-cookie'];
    if (sc) for (const c of sc) {
      const m = c.match(/^((?:__Host-)?atrium_session)=([^;]*)/);
      if (m) this.cookie = m[2] ? `${m[1]}=${m[2]}` : null;
    }
    if (r.json && r.json.csrf_token) this.csrf = r.json.csrf_token;
    return r;
  }
  get(p, h) { return this.call('GET', p, undefined, h); }
  post(p, body = {}, h) { return this.call('POST', p, body, h); }
  put(p, body = {}, h) { return this.call('PUT', p, body, h); }
  patch(p, body = {}, h) { return this.call('PATCH', p, body, h); }
  del(p, h) { return this.call('DELETE', p, undefined, h); }
  async login(username, password, totp) {
    const body = { username, password };
    if (totp) body.totp = totp;
    const r = await this.post('/api/auth/login', body);
    if (r.status === 200) this.user = r.json.user;
    return r;
  }
}

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) for tests.
function totp(secretB32, t = Date.now() / 1000) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secretB32.replace(/=+$/, '').toUpperCase())
    bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  const key = Buffer.from(bytes);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(t / 30)));
  const h = crypto.createHmac('sha1', key).update(counter).digest();
  const off = h[h.length - 1] & 0xf;
  const code = (h.readUInt32BE(off) & 0x7fffffff) % 1000000;
  return String(code).padStart(6, '0');
}

// A TOTP code the server has not seen yet: codes are single use, and the
// server accepts the steps now-1..now+1, so successive sign-ins walk them.
async function freshTotp(d, secret) {
  d._lastStep = d._lastStep || {};
  for (;;) {
    const now = Math.floor(Date.now() / 1000 / 30);
    const last = d._lastStep[secret] || 0;
    for (const step of [now - 1, now, now + 1]) {
      if (step > last) { d._lastStep[secret] = step; return totp(secret, step * 30); }
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function loginAs(d, username, totpSecret) {
  const c = new Client(d);
  const pw = d.demo.accounts[username];
  let r = await c.login(username, pw);
  if (r.status === 401 && r.json && r.json.error.code === 'totp_required')
    r = await c.login(username, pw, await freshTotp(d, totpSecret || d.demo.adminTotp));
  if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${r.body}`);
  return c;
}

function sqlite(dbPath, sql) {
  const r = spawnSync('sqlite3', [dbPath, sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3: ${r.stderr}`);
  return r.stdout.trim();
}

module.exports = {
  ROOT, BUILD, ATRIUMD, freePort, writeConfig, startDaemon, stopDaemon, request,
  Client, totp, freshTotp, loginAs, runCli, sqlite, parseDemo,
};
