// The plugin loader against deliberately broken plugins, toggling a plugin
// off and on, and what a bundled plugin exports.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const lib = require('./lib');

const SRC = path.join(__dirname, 'plugins', 'testplug.c');
let work;

function cc(out, defs = [], src = SRC) {
  const args = ['-std=c11', '-D_DEFAULT_SOURCE', '-fPIC', '-shared', '-fvisibility=hidden',
    '-Wl,-z,defs', `-I${path.join(lib.ROOT, 'sdk', 'include')}`,
    ...spawnSync('pkg-config', ['--cflags', 'jansson'], { encoding: 'utf8' }).stdout.trim().split(/\s+/).filter(Boolean),
    ...defs, '-o', out, src, '-ljansson'];
  const r = spawnSync('cc', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

// A folder with plugins, a config enabling `enabled`, a database made by a
// first good start (so "nothing changed" has something to compare against).
function setup(name) {
  const dir = fs.mkdtempSync(path.join(work, `${name}-`));
  fs.mkdirSync(path.join(dir, 'plugins'));
  return dir;
}

function config(dir, plugins, extra = '') {
  const file = path.join(dir, 'atrium.ini');
  let text = `[server]\naddress = 127.0.0.1\nport = 0\nplugin_dir = ${path.join(dir, 'plugins')}\n` +
    `themes_dir = ${path.join(lib.ROOT, 'themes')}\n[database]\npath = ${path.join(dir, 'atrium.db')}\n` +
    `[workflows]\ndir = ${path.join(dir, 'wf')}\n[plugins]\n`;
  for (const [k, v] of Object.entries(plugins)) text += `${k} = ${v}\n`;
  fs.writeFileSync(file, text + extra);
  return file;
}

function dump(db) {
  if (!fs.existsSync(db)) return '';
  return lib.sqlite(db, '.dump');
}

// Starts with --check-config (full start-up minus listening); returns result.
function check(cfg) {
  return lib.runCli(['--config', cfg, '--check-config']);
}

before(() => { work = fs.mkdtempSync(path.join(os.tmpdir(), 'atrium-plug-')); });
after(() => fs.rmSync(work, { recursive: true, force: true }));

const broken = [
  { name: 'not a shared object', make: (d) => fs.writeFileSync(path.join(d, 'plugins', 'tnote.so'), 'hello'),
    expect: /plugin 'tnote' \(.*tnote\.so\): not a loadable shared object/ },
  { name: 'no descriptor', make: (d) => {
      const src = path.join(d, 'empty.c');
      fs.writeFileSync(src, 'int atrium_unrelated(void) { return 1; }\n');
      cc(path.join(d, 'plugins', 'tnote.so'), [], src);
    }, expect: /plugin 'tnote' \(.*\): no 'atrium_plugin' descriptor exported/ },
  { name: 'wrong abi', make: (d) => cc(path.join(d, 'plugins', 'tnote.so'), ['-DBAD_ABI']),
    expect: /plugin 'tnote' \(.*\): abi 2, core speaks 1/ },
  { name: 'wrong descriptor size', make: (d) => cc(path.join(d, 'plugins', 'tnote.so'), ['-DBAD_SIZE']),
    expect: /plugin 'tnote' \(.*\): descriptor size \d+, core expects \d+/ },
  { name: 'wrong build signature', make: (d) => cc(path.join(d, 'plugins', 'tnote.so'), ['-DBAD_SIGNATURE']),
    expect: /plugin 'tnote' \(.*\): build signature 'atrium-abi1-ptr4-jansson9'/ },
  { name: 'file declaring another name (duplicate)', make: (d) => {
      cc(path.join(d, 'plugins', 'tnote.so'));
      cc(path.join(d, 'plugins', 'tnote2.so'));
    }, plugins: { tnote: 'on', tnote2: 'on' },
    expect: /plugin 'tnote2' \(.*tnote2\.so\): file declares the name 'tnote'/ },
  { name: 'unknown config key', make: (d) => cc(path.join(d, 'plugins', 'tnote.so')),
    extra: '[plugin.tnote]\nlabel = x\ncolour = blue\n',
    expect: /atrium\.ini:\d+: plugin 'tnote': unknown key 'colour' in \[plugin\.tnote\]/ },
  { name: 'config value of the wrong type', make: (d) => cc(path.join(d, 'plugins', 'tnote.so')),
    extra: '[plugin.tnote]\nlimit = many\n',
    expect: /atrium\.ini:\d+: plugin 'tnote': limit: expected an integer/ },
  { name: 'a failing migration', make: (d) => cc(path.join(d, 'plugins', 'tnote.so'), ['-DBAD_MIGRATION']),
    expect: /plugin 'tnote' \(.*\): migration 2 failed: /, noTable: true },
  { name: 'init returning an error', make: (d) => cc(path.join(d, 'plugins', 'tnote.so'), ['-DINIT_FAILS']),
    expect: /plugin 'tnote' \(.*\): init failed: the test plugin refuses to start/, noTable: true },
  { name: 'a missing requirement', make: (d) => cc(path.join(d, 'plugins', 'tnote.so'), ['-DREQUIRES="billing"']),
    expect: /plugin 'tnote' \(.*\): requires plugin 'billing', which is not enabled/ },
  { name: 'a disabled requirement', make: (d) => {
      cc(path.join(d, 'plugins', 'tnote.so'), ['-DREQUIRES="other"']);
      cc(path.join(d, 'plugins', 'other.so'), ['-DNAME="other"']);
    }, plugins: { tnote: 'on', other: 'off' },
    expect: /plugin 'tnote' \(.*\): requires plugin 'other', which is not enabled/ },
  { name: 'a dependency cycle', make: (d) => {
      cc(path.join(d, 'plugins', 'tnote.so'), ['-DREQUIRES="other"']);
      cc(path.join(d, 'plugins', 'other.so'), ['-DNAME="other"', '-DREQUIRES="tnote"']);
    }, plugins: { tnote: 'on', other: 'on' }, expect: /dependency cycle through '(tnote|other)'/ },
  { name: 'a route conflict', make: (d) => cc(path.join(d, 'plugins', 'tnote.so'), ['-DROUTE_CONFLICT']),
    expect: /plugin 'tnote' \(.*\): route GET \/api\/tnote\/notes conflicts with \/api\/tnote\/notes/ },
];

for (const b of broken) {
  test(`loader refuses ${b.name} with one clear line and leaves the database unchanged`, () => {
    const dir = setup('b');
    // A database made by a good start without the plugin.
    const good = check(config(dir, {}));
    assert.equal(good.status, 0, good.stderr);
    const before = dump(path.join(dir, 'atrium.db'));
    b.make(dir);
    const r = check(config(dir, b.plugins || { tnote: 'on' }, b.extra || ''));
    assert.notEqual(r.status, 0);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
    assert.match(lines[0], b.expect);
    assert.equal(dump(path.join(dir, 'atrium.db')), before, 'database changed');
    if (b.noTable)
      assert.equal(lib.sqlite(path.join(dir, 'atrium.db'),
        "SELECT count(*) FROM sqlite_master WHERE name LIKE 'tnote%'"), '0');
  });
}

test('a plugin switched off keeps its data; its routes 404 and it leaves the manifest and list', async () => {
  const dir = setup('toggle');
  cc(path.join(dir, 'plugins', 'tnote.so'));
  fs.mkdirSync(path.join(dir, 'plugins', 'tnote', 'ui'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'plugins', 'tnote', 'ui', 'notes.js'), 'export async function render() {}\n');
  const on = { server: { plugin_dir: path.join(dir, 'plugins') }, plugins: { tnote: 'on' } };
  const d = await lib.startDaemon({ config: on });
  try {
    const pat = await lib.loginAs(d, 'patient.demo');
    assert.equal((await pat.post('/api/tnote/notes', { text: 'keep me' })).status, 201);
    // ABI 1.1: sql_each_cols + respond_text
    const csv = await pat.get('/api/tnote/notes.csv');
    assert.equal(csv.status, 200);
    assert.match(csv.headers['content-type'], /^text\/csv/);
    assert.equal(csv.headers['x-content-type-options'], 'nosniff');
    assert.equal(csv.body, 'id,text,null\n1,keep me,0\n');
    let m = await pat.get('/api/ui/manifest');
    assert.ok(m.json.pages.some((p) => p.plugin === 'tnote' && p.module === '/plugins/tnote/notes.js'));
    assert.equal((await pat.get('/plugins/tnote/notes.js')).status, 200);
    const late = await pat.get('/api/tnote/late');
    assert.equal(late.json.rc, -5, 'registration after init must fail with ATR_EBUSY');
    const admin = await lib.loginAs(d, 'admin.demo');
    assert.ok((await admin.get('/api/plugins')).json.plugins.some((p) => p.name === 'tnote'));

    // Off: same database.
    await d.stop();
    lib.writeConfig(d.dir, d.port, { ...on, plugins: { tnote: 'off' } });
    await d.restart();
    const pat2 = await lib.loginAs(d, 'patient.demo');
    assert.equal((await pat2.get('/api/tnote/notes')).status, 404);
    assert.equal((await pat2.post('/api/tnote/notes', { text: 'x' })).status, 404);
    m = await pat2.get('/api/ui/manifest');
    assert.ok(!m.json.pages.some((p) => p.plugin === 'tnote'));
    assert.equal((await pat2.get('/plugins/tnote/notes.js')).status, 404);
    const admin2 = await lib.loginAs(d, 'admin.demo');
    assert.ok(!(await admin2.get('/api/plugins')).json.plugins.some((p) => p.name === 'tnote'));
    const spec = (await pat2.get('/api/openapi.json')).json;
    assert.ok(!Object.keys(spec.paths).some((p) => p.startsWith('/api/tnote')));
    assert.equal(lib.sqlite(d.dbPath, 'SELECT text FROM tnote_notes'), 'keep me');

    // On again: the data is there.
    await d.stop();
    lib.writeConfig(d.dir, d.port, on);
    await d.restart();
    const pat3 = await lib.loginAs(d, 'patient.demo');
    const list = await pat3.get('/api/tnote/notes');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.notes.map((n) => n.text), ['keep me']);
  } finally {
    await d.stop();
  }
});

test('--list-plugins shows every plugin file with version, state and reason', () => {
  const dir = setup('list');
  cc(path.join(dir, 'plugins', 'tnote.so'));
  cc(path.join(dir, 'plugins', 'other.so'), ['-DNAME="other"']);
  cc(path.join(dir, 'plugins', 'old.so'), ['-DNAME="old"', '-DBAD_ABI']);
  fs.writeFileSync(path.join(dir, 'plugins', 'junk.so'), 'not elf');
  const r = lib.runCli(['--config', config(dir, { tnote: 'on', other: 'off' }), '--list-plugins']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^tnote\s+0\.0\.1\s+on\s+loader test plugin$/m);
  assert.match(r.stdout, /^other\s+0\.0\.1\s+off\s+/m);
  assert.match(r.stdout, /^old\s+-\s+refused\s+abi 2, core speaks 1$/m);
  assert.match(r.stdout, /^junk\s+-\s+refused\s+not a loadable shared object/m);
});

test('bundled plugins export only their descriptor', () => {
  const dir = path.join(lib.BUILD, 'plugins');
  const sos = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.so')) : [];
  for (const so of sos) {
    const r = spawnSync('nm', ['-D', '--defined-only', path.join(dir, so)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const syms = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).pop())
      .filter((s) => s && !['_init', '_fini', '__bss_start', '_edata', '_end'].includes(s));
    assert.deepEqual(syms, ['atrium_plugin'], `${so} exports ${syms.join(', ')}`);
  }
});
