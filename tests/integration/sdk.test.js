// The SDK as an outside developer uses it: `make install PREFIX=...`, then
// build sdk/examples/faq out of tree with pkg-config alone, install it into
// the installed plugin directory, switch it on, and drive it over HTTP.
'use strict';
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const lib = require('./lib');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'atrium-sdk-'));
after(() => fs.rmSync(work, { recursive: true, force: true }));

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120000, ...opts });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r;
}

test('make install lays out a Unix package with the SDK', () => {
  const prefix = path.join(work, 'prefix');
  run('make', ['-s', 'install', `PREFIX=${prefix}`, `BUILD=${lib.BUILD}`], { cwd: lib.ROOT });
  for (const f of ['sbin/atriumd', 'include/atrium/plugin.h', 'lib/pkgconfig/atrium-sdk.pc',
    'share/atrium/sdk/atrium-plugin.mk', 'share/atrium/sdk/README.md', 'share/atrium/sdk/ABI.md',
    'share/atrium/sdk/template/myplugin.c', 'share/atrium/sdk/examples/faq/faq.c',
    'share/atrium/themes/shell/index.html', 'share/atrium/themes/default/theme.css', 'etc/atrium/atrium.ini',
    'lib/systemd/system/atriumd.service'])
    assert.ok(fs.existsSync(path.join(prefix, f)), `${f} missing`);
  const ini = fs.readFileSync(path.join(prefix, 'etc/atrium/atrium.ini'), 'utf8');
  assert.match(ini, new RegExp(`^plugin_dir = ${prefix}/lib/atrium/plugins$`, 'm'));
  const unit = fs.readFileSync(path.join(prefix, 'lib/systemd/system/atriumd.service'), 'utf8');
  assert.match(unit, new RegExp(`ExecStart=${prefix}/sbin/atriumd --config ${prefix}/etc/atrium/atrium.ini`));
  const env = { ...process.env, PKG_CONFIG_PATH: path.join(prefix, 'lib/pkgconfig') };
  const flags = run('pkg-config', ['--cflags', '--libs', 'atrium-sdk'], { env }).stdout;
  assert.match(flags, new RegExp(`-I${prefix}/include`));
  assert.match(flags, /-ljansson/);
});

test('the faq example builds out of tree against the installed SDK and works when switched on', async () => {
  const prefix = path.join(work, 'prefix');
  const env = { ...process.env, PKG_CONFIG_PATH: path.join(prefix, 'lib/pkgconfig') };
  // Out of tree: a copy of the example, outside the repository.
  const src = path.join(work, 'faq');
  fs.cpSync(path.join(prefix, 'share/atrium/sdk/examples/faq'), src, { recursive: true });
  run('make', ['-s'], { cwd: src, env });
  const nm = run('nm', ['-D', '--defined-only', path.join(src, 'faq.so')]).stdout;
  const syms = nm.trim().split('\n').map((l) => l.trim().split(/\s+/).pop());
  assert.deepEqual(syms, ['atrium_plugin']);
  run('make', ['-s', 'install'], { cwd: src, env });
  const plugdir = path.join(prefix, 'lib/atrium/plugins');
  assert.ok(fs.existsSync(path.join(plugdir, 'faq.so')));
  assert.ok(fs.existsSync(path.join(plugdir, 'faq/ui/faq.js')));

  // Run the installed daemon with the installed plugin directory and themes.
  const d = await lib.startDaemon({
    config: {
      server: { plugin_dir: plugdir, themes_dir: path.join(prefix, 'share/atrium/themes') },
      plugins: { faq: 'on' },
      'plugin.faq': { greeting: 'Questions our patients ask', max_results: 3 },
    },
  });
  try {
    const staff = await lib.loginAs(d, 'staff.demo');
    const add = await staff.post('/api/faq/entries', { question: 'Where do I park?', answer: 'Level 2.' });
    assert.equal(add.status, 201, add.body);
    assert.equal((await staff.post('/api/faq/entries', { question: 'x' })).status, 400);
    const pat = await lib.loginAs(d, 'patient.demo');
    assert.equal((await pat.post('/api/faq/entries', { question: 'q', answer: 'a' })).status, 403);
    const list = await pat.get('/api/faq/entries?q=park');
    assert.equal(list.status, 200);
    assert.equal(list.json.greeting, 'Questions our patients ask');
    assert.deepEqual(list.json.entries.map((e) => e.answer), ['Level 2.']);
    const m = await pat.get('/api/ui/manifest');
    assert.ok(m.json.pages.some((p) => p.module === '/plugins/faq/faq.js'));
    assert.equal((await pat.get('/plugins/faq/faq.js')).status, 200);
    const spec = (await pat.get('/api/openapi.json')).json;
    assert.ok(spec.paths['/api/faq/entries/{id}'].delete);
    assert.equal(lib.sqlite(d.dbPath, "SELECT id FROM schema_migrations WHERE owner='faq' ORDER BY id"), '1\n2');
  } finally {
    await d.stop();
  }
});
