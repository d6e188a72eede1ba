// The HTTP core against a real atriumd: health, 404/405 with Allow, the body
// cap (413 at the cap, memory flat for a 50 MB upload, with and without a
// declared length), ambiguous framing (duplicate Content-Length,
// Content-Length with Transfer-Encoding) refused and the connection closed,
// 415 for non-JSON bodies, and the security headers on every response.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startDaemon, request } = require('./lib');
const { rawExchange, rssKiB, assertSecurityHeaders } = require('./corelib');

const CAP = 1048576; // default [server] max_body
let d;

before(async () => { d = await startDaemon({ demo: false }); });
after(() => d.stop());

test('GET /healthz answers 200 with version and database state', async () => {
  const r = await request(d, 'GET', '/healthz');
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'ok');
  assert.equal(r.json.database, 'ok');
  assert.match(r.json.version, /^\d+\.\d+\.\d+/);
  assert.match(r.headers['content-type'], /^application\/json/);
  assert.equal(r.headers['cache-control'], 'no-store');
});

test('HEAD /healthz answers like GET without a body', async () => {
  const r = await request(d, 'HEAD', '/healthz');
  assert.equal(r.status, 200);
  assert.equal(r.body, '');
});

test('unknown API path is a JSON 404', async () => {
  const r = await request(d, 'GET', '/api/no/such/thing');
  assert.equal(r.status, 404);
  assert.deepEqual(Object.keys(r.json), ['error']);
  assert.equal(r.json.error.code, 'not_found');
  assert.equal(typeof r.json.error.message, 'string');
});

test('wrong method is a JSON 405 with an Allow header', async () => {
  let r = await request(d, 'DELETE', '/healthz');
  assert.equal(r.status, 405);
  assert.equal(r.headers.allow, 'GET');
  assert.equal(r.json.error.code, 'method_not_allowed');
  r = await request(d, 'GET', '/api/auth/login');
  assert.equal(r.status, 405);
  assert.equal(r.headers.allow, 'POST');
  // Static files take GET and HEAD only.
  r = await request(d, 'POST', '/index.html', { body: {} });
  assert.equal(r.status, 405);
  assert.equal(r.headers.allow, 'GET, HEAD');
});

test('a JSON route given another Content-Type answers 415', async () => {
  for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) {
    const r = await request(d, 'POST', '/api/auth/login', {
      raw: true, body: '{"username":"a","password":"b"}', headers: { 'Content-Type': ct },
    });
    assert.equal(r.status, 415, ct);
    assert.equal(r.json.error.code, 'unsupported_media_type');
  }
  // No Content-Type at all with a body is refused too.
  const r = await request(d, 'POST', '/api/auth/login', { raw: true, body: '{}' });
  assert.equal(r.status, 415);
  // JSON with a charset parameter is JSON.
  const ok = await request(d, 'POST', '/api/auth/login', {
    raw: true, body: '{"username":"nobody","password":"x"}',
    headers: { 'Content-Type': 'application/json; charset=utf-8' },
  });
  assert.notEqual(ok.status, 415);
});

test('a body of exactly the cap is read; one byte more is 413', async () => {
  const body = `{"username":"${'a'.repeat(CAP - 16)}"}`.padEnd(CAP, ' ');
  assert.equal(Buffer.byteLength(body), CAP);
  let r = await request(d, 'POST', '/api/auth/login', {
    raw: true, body, headers: { 'Content-Type': 'application/json' },
  });
  assert.notEqual(r.status, 413);
  assert.equal(r.status, 400); // read, then refused for what it says
  r = await request(d, 'POST', '/api/auth/login', {
    raw: true, body: `${body} `, headers: { 'Content-Type': 'application/json' },
  });
  assert.equal(r.status, 413);
  assert.equal(r.json.error.code, 'payload_too_large');
});

test('a 50 MB upload with Content-Length gets 413 at once, memory stays flat', async () => {
  const pid = d.proc.pid;
  const rss0 = rssKiB(pid);
  const big = Buffer.alloc(50 * 1024 * 1024, 0x61);
  const t0 = Date.now();
  const x = await rawExchange(d, [
    'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
      + `Content-Length: ${big.length}\r\n\r\n`,
    big,
  ], { wait: 5000 });
  assert.equal(x.responses.length, 1);
  assert.equal(x.responses[0].status, 413);
  assert.equal(JSON.parse(x.responses[0].body).error.code, 'payload_too_large');
  assert.equal(x.closed, true, 'connection closed after the 413');
  assert.ok(Date.now() - t0 < 5000);
  const grew = rssKiB(pid) - rss0;
  assert.ok(grew < 4096, `RSS grew by ${grew} KiB`);
});

test('a 50 MB chunked upload gets 413 and memory stays flat', async () => {
  const pid = d.proc.pid;
  const rss0 = rssKiB(pid);
  const chunk = Buffer.alloc(1024 * 1024, 0x62);
  const parts = ['POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
    + 'Transfer-Encoding: chunked\r\n\r\n'];
  for (let i = 0; i < 50; i++) parts.push(`${chunk.length.toString(16)}\r\n`, chunk, '\r\n');
  parts.push('0\r\n\r\n');
  const x = await rawExchange(d, parts, { wait: 10000 });
  assert.equal(x.responses.length, 1, x.raw.slice(0, 300));
  assert.equal(x.responses[0].status, 413);
  assert.equal(x.responses[0].headers.connection, 'close');
  const grew = rssKiB(pid) - rss0;
  // At most the 1 MiB cap is ever held, then freed.
  assert.ok(grew < 8192, `RSS grew by ${grew} KiB`);
  // Still serving.
  assert.equal((await request(d, 'GET', '/healthz')).status, 200);
});

test('two Content-Length headers: 400 and the connection is closed', async () => {
  const x = await rawExchange(d, [
    'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
      + 'Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}'
      // A smuggled second request must never be answered.
      + 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
  ]);
  assert.equal(x.responses.length, 1, x.raw);
  assert.equal(x.responses[0].status, 400);
  assert.match(JSON.parse(x.responses[0].body).error.message, /Content-Length/);
  assert.equal(x.closed, true);
});

test('two different Content-Length values: 400', async () => {
  const x = await rawExchange(d, [
    'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
      + 'Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}',
  ]);
  assert.equal(x.responses[0].status, 400);
  assert.equal(x.closed, true);
});

test('Content-Length with Transfer-Encoding: 400 and the connection is closed', async () => {
  const x = await rawExchange(d, [
    'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
      + 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'
      + 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
  ]);
  assert.equal(x.responses.length, 1, x.raw);
  assert.equal(x.responses[0].status, 400);
  assert.match(JSON.parse(x.responses[0].body).error.message, /Transfer-Encoding/);
  assert.equal(x.closed, true);
});

test('a malformed Content-Length is refused', async () => {
  const x = await rawExchange(d, [
    'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
      + 'Content-Length: 2x\r\n\r\n{}',
  ]);
  assert.equal(x.responses[0].status, 400);
});

test('a keep-alive connection serves several requests', async () => {
  const req = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
  const x = await rawExchange(d, [req, 50, req, 50, req], { wait: 500 });
  assert.equal(x.responses.length, 3);
  for (const r of x.responses) {
    assert.equal(r.status, 200);
    assert.notEqual(r.headers.connection, 'close');
  }
  assert.equal(x.closed, false);
});

test('security headers are on every kind of response', async () => {
  const cases = [
    ['GET', '/healthz', 200],
    ['GET', '/', 200],
    ['GET', '/app.js', 200],
    ['GET', '/api/nope', 404],
    ['GET', '/nope.html', 404],
    ['DELETE', '/healthz', 405],
    ['GET', '/api/notifications', 401],
    ['GET', '/practice.css', 200],
  ];
  for (const [m, p, status] of cases) {
    const r = await request(d, m, p);
    assert.equal(r.status, status, `${m} ${p}`);
    assertSecurityHeaders(assert, r.headers, `${m} ${p}`);
  }
  const etag = (await request(d, 'GET', '/app.js')).headers.etag;
  const r304 = await request(d, 'GET', '/app.js', { headers: { 'If-None-Match': etag } });
  assert.equal(r304.status, 304);
  assertSecurityHeaders(assert, r304.headers, '304');
  const r415 = await request(d, 'POST', '/api/auth/login', { raw: true, body: 'x', headers: { 'Content-Type': 'text/plain' } });
  assertSecurityHeaders(assert, r415.headers, '415');
  const x = await rawExchange(d, [
    'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx',
  ]);
  assertSecurityHeaders(assert, x.responses[0].headers, '400');
});

test('errors leak nothing internal', async () => {
  const r = await request(d, 'POST', '/api/auth/login', {
    raw: true, body: '{"username": "x", "password": "y", "zzz": [', headers: { 'Content-Type': 'application/json' },
  });
  assert.equal(r.status, 400);
  assert.doesNotMatch(r.body, /sqlite|SELECT|\/tmp\/|\/work\/|0x[0-9a-f]{6,}/i);
});
