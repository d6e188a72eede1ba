// Static files from a temporary theme folder: MIME types, ETag + 304,
// Cache-Control, HEAD, and every traversal trick refused (.., %2e%2e,
// %2f, backslashes, %00, dotfiles, symlinks out of the folder, directory
// listings). Requests go over a raw socket so paths reach the server as
// written.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startDaemon, request } = require('./lib');
const { rawExchange } = require('./corelib');

let d;
let root;
const SECRET = 'outside-secret-7f3a';

function makeTheme() {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'atrium-theme-'));
  const t = path.join(root, 'themes', 't');
  fs.mkdirSync(path.join(t, 'sub'), { recursive: true });
  fs.mkdirSync(path.join(t, 'empty-dir'));
  fs.mkdirSync(path.join(root, 'outside'));
  fs.writeFileSync(path.join(root, 'outside', 'secret.txt'), SECRET);
  fs.writeFileSync(path.join(root, 'themes', 'sibling.txt'), SECRET);
  const files = {
    'index.html': '<!doctype html><title>t</title>',
    'app.js': 'export const x = 1;',
    'mod.mjs': 'export default 1;',
    'shell.css': 'body{}',
    'data.json': '{"a":1}',
    'logo.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>',
    'img.png': Buffer.from('89504e470d0a1a0a', 'hex'),
    'font.woff2': 'wOF2',
    'notes.txt': 'hello',
    'blob.xyz': 'raw',
    '.secret': SECRET,
    'sub/page.js': 'export {};',
    'sub/.env': SECRET,
    'a..b.txt': 'dots inside a name',
  };
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(t, name), content);
  fs.symlinkSync(path.join(root, 'outside', 'secret.txt'), path.join(t, 'out-file.txt'));
  fs.symlinkSync(path.join(root, 'outside'), path.join(t, 'out-dir'));
  fs.symlinkSync('../sibling.txt', path.join(t, 'rel-out.txt'));
  fs.symlinkSync('/etc/passwd', path.join(t, 'passwd.txt'));
  fs.symlinkSync('app.js', path.join(t, 'alias.js')); // stays inside: fine
  require('node:child_process').execFileSync('mkfifo', [path.join(t, 'pipe.js')]);
  return path.join(root, 'themes');
}

before(async () => {
  const themes = makeTheme();
  d = await startDaemon({ demo: false, config: { server: { themes_dir: themes, theme: 't' } } });
});
after(async () => {
  await d.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

// GET over a raw socket: the path is sent byte for byte.
async function rawGet(p) {
  const x = await rawExchange(d, [`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]);
  assert.equal(x.responses.length, 1, `${p}: ${x.raw.slice(0, 200)}`);
  return x.responses[0];
}

test('files are served with their MIME types', async () => {
  const want = {
    '/': 'text/html; charset=utf-8',
    '/index.html': 'text/html; charset=utf-8',
    '/app.js': 'text/javascript; charset=utf-8',
    '/mod.mjs': 'text/javascript; charset=utf-8',
    '/shell.css': 'text/css; charset=utf-8',
    '/data.json': 'application/json',
    '/logo.svg': 'image/svg+xml',
    '/img.png': 'image/png',
    '/font.woff2': 'font/woff2',
    '/notes.txt': 'text/plain; charset=utf-8',
    '/blob.xyz': 'application/octet-stream',
    '/sub/page.js': 'text/javascript; charset=utf-8',
    '/a..b.txt': 'text/plain; charset=utf-8',
    '/alias.js': 'text/javascript; charset=utf-8',
  };
  for (const [p, type] of Object.entries(want)) {
    const r = await request(d, 'GET', p);
    assert.equal(r.status, 200, p);
    assert.equal(r.headers['content-type'], type, p);
    assert.equal(r.headers['cache-control'], 'no-cache', p);
  }
  assert.equal((await request(d, 'GET', '/app.js')).body, 'export const x = 1;');
});

test('ETag and If-None-Match give 304 without a body', async () => {
  const r = await request(d, 'GET', '/app.js');
  assert.match(r.headers.etag, /^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
  const r2 = await request(d, 'GET', '/app.js', { headers: { 'If-None-Match': r.headers.etag } });
  assert.equal(r2.status, 304);
  assert.equal(r2.body, '');
  assert.equal(r2.headers.etag, r.headers.etag);
  const r3 = await request(d, 'GET', '/app.js', { headers: { 'If-None-Match': '"other"' } });
  assert.equal(r3.status, 200);
  // Another file has another tag.
  assert.notEqual((await request(d, 'GET', '/shell.css')).headers.etag, r.headers.etag);
});

test('the ETag changes when the file changes', async () => {
  const file = path.join(root, 'themes', 't', 'notes.txt');
  const before1 = (await request(d, 'GET', '/notes.txt')).headers.etag;
  fs.writeFileSync(file, 'hello, longer now');
  const r = await request(d, 'GET', '/notes.txt', { headers: { 'If-None-Match': before1 } });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'hello, longer now');
  assert.notEqual(r.headers.etag, before1);
});

test('HEAD gives the headers without the body', async () => {
  const r = await request(d, 'HEAD', '/app.js');
  assert.equal(r.status, 200);
  assert.equal(r.body, '');
  assert.equal(r.headers['content-length'], String('export const x = 1;'.length));
});

test('dot-dot traversal is refused in every spelling', async () => {
  const attempts = [
    '/../outside/secret.txt', '/../../../../etc/passwd', '/sub/../../outside/secret.txt',
    '/%2e%2e/outside/secret.txt', '/%2E%2E/%2e%2e/etc/passwd', '/.%2e/outside/secret.txt',
    '/..%2foutside%2fsecret.txt', '/sub%2f..%2f..%2foutside/secret.txt',
    '/..%5coutside%5csecret.txt', '/..\\outside\\secret.txt', '/sub\\..\\index.html',
    '/%2e%2e%5c%2e%2e%5cetc%5cpasswd', '/%252e%252e/outside/secret.txt',
    '/./index.html', '/sub/./page.js', '//etc/passwd',
  ];
  for (const p of attempts) {
    const r = await rawGet(p);
    assert.ok(r.status === 404 || r.status === 400, `${p} -> ${r.status}`);
    assert.ok(!r.body.includes(SECRET) && !r.body.includes('root:'), p);
  }
});

test('NUL and control bytes in the path are refused', async () => {
  for (const p of ['/index.html%00.js', '/app.js%00', '/%00', '/sub%01/page.js', '/app.js%0a']) {
    const r = await rawGet(p);
    assert.ok(r.status === 400 || r.status === 404, `${p} -> ${r.status}`);
    assert.doesNotMatch(r.body, /export/);
  }
});

test('dotfiles are not served', async () => {
  for (const p of ['/.secret', '/sub/.env', '/%2esecret', '/sub/%2eenv']) {
    const r = await rawGet(p);
    assert.equal(r.status, 404, p);
    assert.ok(!r.body.includes(SECRET), p);
  }
});

test('symlinks leading out of the theme folder are refused', async () => {
  for (const p of ['/out-file.txt', '/out-dir/secret.txt', '/rel-out.txt', '/passwd.txt']) {
    const r = await rawGet(p);
    assert.equal(r.status, 404, p);
    assert.ok(!r.body.includes(SECRET) && !r.body.includes('root:'), p);
  }
});

test('directories are never listed', async () => {
  for (const p of ['/sub', '/sub/', '/empty-dir', '/empty-dir/', '/out-dir', '/out-dir/']) {
    const r = await rawGet(p);
    assert.equal(r.status, 404, p);
    assert.doesNotMatch(r.body, /page\.js|secret/);
  }
});

test('a FIFO in the folder is refused without hanging a worker', async () => {
  for (let i = 0; i < 3; i++) { // more times than there are workers
    const r = await rawGet('/pipe.js');
    assert.equal(r.status, 404);
  }
  assert.equal((await request(d, 'GET', '/app.js')).status, 200);
});

test('missing files are a JSON 404', async () => {
  const r = await request(d, 'GET', '/no-such-file.js');
  assert.equal(r.status, 404);
  assert.equal(r.json.error.code, 'not_found');
  assert.doesNotMatch(r.body, /atrium-theme|\/tmp\//);
});
