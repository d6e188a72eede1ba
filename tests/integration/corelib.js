// Helpers for the core integration tests (core*.test.js): raw HTTP over a
// socket, so tests can send what node's http client refuses to (duplicate
// Content-Length, paused chunked bodies, many keep-alive requests), and a
// look at the daemon's memory. Builds on lib.js; not a general HTTP client.
'use strict';
const fs = require('node:fs');
const net = require('node:net');

// Parses every complete HTTP/1.1 response in buf (Content-Length framed, as
// atriumd always answers). Returns { responses: [{status, headers, body}],
// rest } where headers keys are lower-case.
function parseResponses(buf) {
  const responses = [];
  let off = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', off);
    if (end < 0) break;
    const head = buf.slice(off, end).toString('latin1').split('\r\n');
    const m = head[0].match(/^HTTP\/1\.[01] (\d{3})/);
    if (!m) throw new Error(`not an HTTP response: ${head[0]}`);
    const headers = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      const k = line.slice(0, i).trim().toLowerCase();
      const v = line.slice(i + 1).trim();
      headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
    }
    const status = Number(m[1]);
    const len = status === 304 || status === 100 ? 0 : Number(headers['content-length'] || 0);
    if (buf.length < end + 4 + len) break;
    const body = buf.slice(end + 4, end + 4 + len).toString('utf8');
    off = end + 4 + len;
    if (status !== 100) responses.push({ status, headers, body });
  }
  return { responses, rest: buf.slice(off) };
}

// Opens a socket to the daemon. Resolves once connected.
function connect(d) {
  return new Promise((resolve, reject) => {
    const s = net.connect(d.port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

// Sends `chunks` (strings or Buffers; a number means "pause that many ms")
// on one connection and collects everything until the server closes it or
// `wait` ms pass after the last write. Returns { responses, closed, raw }.
async function rawExchange(d, chunks, { wait = 1500 } = {}) {
  const s = await connect(d);
  let data = Buffer.alloc(0);
  let closed = false;
  s.on('data', (b) => { data = Buffer.concat([data, b]); });
  const closedP = new Promise((res) => s.on('close', () => { closed = true; res(); }));
  s.on('error', () => { /* reset by peer counts as closed */ });
  for (const c of chunks) {
    if (typeof c === 'number') await new Promise((r) => setTimeout(r, c));
    else if (!closed) s.write(c);
  }
  await Promise.race([closedP, new Promise((r) => setTimeout(r, wait))]);
  s.destroy();
  const { responses } = parseResponses(data);
  return { responses, closed, raw: data.toString('latin1') };
}

// A keep-alive connection that sends one request at a time and reads its
// response. request() resolves with { status, headers, body }.
class KeepAlive {
  constructor(socket) {
    this.s = socket;
    this.buf = Buffer.alloc(0);
    this.waiters = [];
    this.closed = false;
    socket.on('data', (b) => { this.buf = Buffer.concat([this.buf, b]); this.pump(); });
    socket.on('close', () => { this.closed = true; this.pump(); });
    socket.on('error', () => {});
  }
  static async open(d) { return new KeepAlive(await connect(d)); }
  pump() {
    const { responses, rest } = parseResponses(this.buf);
    this.buf = rest;
    for (const r of responses) {
      const w = this.waiters.shift();
      if (w) w.resolve(r);
    }
    if (this.closed) for (const w of this.waiters.splice(0)) w.reject(new Error('closed'));
  }
  request(method, path, headers = {}) {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      let text = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
      for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
      this.s.write(`${text}\r\n`);
    });
  }
  close() { this.s.destroy(); }
}

// Resident memory of a process in KiB (Linux).
function rssKiB(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) : NaN;
}

// Waits until fn() is truthy (polling), or throws after ms.
async function waitFor(fn, ms = 5000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// The security headers every response carries.
function assertSecurityHeaders(assert, headers, what) {
  assert.equal(headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
  assert.equal(headers['x-frame-options'], 'DENY', `${what}: frame options`);
  assert.ok(headers['referrer-policy'], `${what}: referrer policy`);
  const csp = headers['content-security-policy'];
  assert.ok(csp, `${what}: CSP present`);
  assert.ok(!/unsafe-inline|unsafe-eval/.test(csp), `${what}: CSP without unsafe-*`);
  assert.match(csp, /default-src 'self'/, `${what}: CSP default-src`);
  assert.match(csp, /frame-ancestors 'none'/, `${what}: CSP frame-ancestors`);
}

module.exports = {
  parseResponses, connect, rawExchange, KeepAlive, rssKiB, waitFor,
  assertSecurityHeaders,
};
