// Config file handling of the real binary: each kind of bad line refuses to
// start with "file:line: message" and a non-zero exit, a 1000-character
// value works end to end, --check-config validates and exits, and
// ATRIUM_CONFIG names the file when --config does not.
'use strict';
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ATRIUMD, startDaemon, request, runCli, writeConfig, freePort } = require('./lib');

const dirs = [];
after(() => { for (const x of dirs) fs.rmSync(x, { recursive: true, force: true }); });

// A valid config (lib.js's) with `extra` appended as raw text. Returns
// { file, dir, lines } where lines is the line count before `extra`.
async function configWith(extra) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atrium-cfg-'));
  dirs.push(dir);
  fs.mkdirSync(path.join(dir, 'workflows'));
  const file = writeConfig(dir, await freePort(), { workflows: { dir: path.join(dir, 'workflows') } });
  const base = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, base + extra);
  return { file, dir, lines: base.split('\n').length - 1 };
}

// Runs the daemon on a bad file; it must refuse with "file:line: what".
async function refuses(extra, lineOffset, what) {
  const c = await configWith(extra);
  const r = runCli(['--config', c.file], { timeout: 10000 });
  assert.notEqual(r.status, 0, `started with:\n${extra}`);
  assert.equal(r.signal, null);
  const line = c.lines + lineOffset;
  assert.ok(r.stderr.includes(`${c.file}:${line}: `), `wanted ${c.file}:${line}: in ${r.stderr}`);
  assert.match(r.stderr, what);
  // Nothing was created on the way out.
  assert.equal(fs.existsSync(path.join(c.dir, 'atrium.db')), false);
}

test('an unknown section refuses to start with file:line', async () => {
  // Reported at the section line itself.
  await refuses('[sever]\naddress = 127.0.0.1\n', 1, /unknown section \[sever\]/);
  await refuses('[notify]\n[nothing]\n', 2, /unknown section \[nothing\]/);
});

test('an unknown key refuses to start with file:line', async () => {
  await refuses('[database]\nbusy_timeout = 5\n', 2, /unknown key 'busy_timeout' in \[database\]/);
});

test('a bad value refuses to start with file:line', async () => {
  await refuses('[notify]\ntimeout = soon\n', 2, /timeout: expected an integer/);
  await refuses('[notify]\n\n\ntimeout = 100000\n', 4, /timeout: value out of range/);
  await refuses('[notify]\nemail = perhaps\n', 2, /email: expected on or off/);
});

test('a duplicate key refuses to start with file:line', async () => {
  // lib.js's [server] already sets port: setting it again is a duplicate.
  await refuses('[server]\nport = 9\n', 2, /duplicate key 'port' in \[server\]/);
});

test('a line that is not key = value refuses to start', async () => {
  await refuses('[notify]\njust some words\n', 2, /syntax error/);
});

test('--check-config accepts a good file and refuses a bad one without serving', async () => {
  const good = await configWith('');
  let r = runCli(['--config', good.file, '--check-config']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ok/);
  assert.doesNotMatch(r.stdout, /listening/);
  const bad = await configWith('[notify]\nsmtp_starttls = sometimes\n');
  r = runCli(['--config', bad.file, '--check-config']);
  assert.equal(r.status, 1);
  assert.ok(r.stderr.includes(`${bad.file}:${bad.lines + 2}: `), r.stderr);
});

test('ATRIUM_CONFIG names the file; a missing file is refused by name', async () => {
  const bad = await configWith('[nope]\n');
  let r = runCli(['--check-config'], { env: { ...process.env, ATRIUM_CONFIG: bad.file } });
  assert.equal(r.status, 1);
  assert.ok(r.stderr.includes(`${bad.file}:${bad.lines + 1}: unknown section`), r.stderr);
  r = runCli(['--config', '/nonexistent/atrium.ini', '--check-config']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /\/nonexistent\/atrium\.ini/);
});

test('an unknown command-line argument is refused', () => {
  const r = runCli(['--frobnicate']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /unknown argument '--frobnicate'/);
  assert.ok(fs.existsSync(ATRIUMD));
});

test('a 1000-character value works end to end', async () => {
  const name = `Clinic ${'abcdefghij'.repeat(99)}end`;
  assert.ok(name.length >= 1000);
  const d = await startDaemon({ demo: false, config: { practice: { name } } });
  try {
    const r = await request(d, 'GET', '/api/ui/manifest');
    assert.equal(r.status, 200);
    assert.equal(r.json.practice.name, name);
  } finally {
    await d.stop();
  }
});
