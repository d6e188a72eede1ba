// tests/e2e/helpers.js — what every browser test needs: a real atriumd on a
// free loopback port with a temporary database seeded by --init-demo, a
// headless Chromium (Debian's /usr/bin/chromium driven by playwright-core),
// an axe-core audit, screenshots, RFC 6238 codes for TOTP accounts and a
// sign-in helper. It is not a test: node --test only runs *.test.js files.
//
// Environment: BUILD names the build folder (default <repo>/build); the
// daemon is $BUILD/atriumd, plugins are $BUILD/plugins, screenshots and
// reports go to $BUILD/e2e-output.

'use strict';

const { spawn, execFile } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { AxeBuilder } = require('@axe-core/playwright');

const REPO = path.resolve(__dirname, '..', '..');
const BUILD = path.resolve(process.env.BUILD || path.join(REPO, 'build'));
const DAEMON = path.join(BUILD, 'atriumd');
const OUTPUT = path.join(BUILD, 'e2e-output');

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// The widths every page is audited at: a laptop and a small phone.
const VIEWPORTS = [
  { name: 'desktop', width: 1280, height: 900 },
  { name: 'mobile', width: 375, height: 740 },
];

// Resolves to a TCP port that was free on 127.0.0.1 a moment ago.
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function run(file, args) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 30000 }, (err, stdout, stderr) => {
      if (err) {
        err.message += '\n' + stdout + stderr;
        reject(err);
      } else resolve({ stdout, stderr });
    });
  });
}

// Reads "  <username> / <password>" and "  <username> totp secret: <B32>"
// lines printed by `atriumd --init-demo`.
function parseDemoAccounts(stdout) {
  const accounts = {};
  const totpSecrets = {};
  for (const line of stdout.split('\n')) {
    let m = /^\s+(\S+) totp secret: ([A-Z2-7=]+)\s*$/.exec(line);
    if (m) { totpSecrets[m[1]] = m[2]; continue; }
    m = /^\s+(\S+) \/ (\S+)\s*$/.exec(line);
    if (m) accounts[m[1]] = m[2];
  }
  return { accounts, totpSecrets };
}

function configText(opts) {
  const plugins = opts.plugins.map((p) => p + ' = on').join('\n');
  const auth = Object.entries(opts.auth).map(([k, v]) => k + ' = ' + v).join('\n');
  return `; written by tests/e2e/helpers.js
[server]
address = 127.0.0.1
port = ${opts.port}
theme = ${opts.theme}
themes_dir = ${path.join(REPO, 'themes')}
plugin_dir = ${path.join(BUILD, 'plugins')}
access_log = ${opts.accessLog ? 'on' : 'off'}

[database]
path = ${path.join(opts.dir, 'atrium.db')}

[workflows]
dir = ${path.join(REPO, 'config', 'workflows')}

[auth]
${auth}

[plugins]
${plugins}
${opts.extra || ''}
`;
}

// Plugins that are built and can be turned on in the test config.
function builtPlugins(wanted = ['scheduling']) {
  return wanted.filter((p) => fs.existsSync(path.join(BUILD, 'plugins', p + '.so')));
}

async function waitHealthy(base, child, logFile, ms = 15000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(base + '/healthz');
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-3000) : '';
  throw new Error('atriumd did not become healthy (exit ' + child.exitCode + '):\n' + log);
}

const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

// Starts a seeded atriumd. opts: theme ('default'), auth ({key: value} for
// [auth]), plugins (names; default: every built one of ['scheduling']),
// extra (raw ini text appended), accessLog (false).
// Resolves to {base, port, dir, configFile, logFile, accounts, totpSecrets,
// stop()}; stop() sends SIGTERM and waits for the exit.
async function startServer(options = {}) {
  if (!fs.existsSync(DAEMON)) throw new Error('no daemon at ' + DAEMON + ' (run make first)');
  const opts = {
    theme: 'default', auth: {}, plugins: builtPlugins(), extra: '', accessLog: false, ...options,
  };
  opts.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atrium-e2e-'));
  opts.port = await freePort();
  const configFile = path.join(opts.dir, 'atrium.ini');
  fs.writeFileSync(configFile, configText(opts));
  const seeded = await run(DAEMON, ['--config', configFile, '--init-demo']);
  const { accounts, totpSecrets } = parseDemoAccounts(seeded.stdout);

  const logFile = path.join(opts.dir, 'atriumd.log');
  const log = fs.openSync(logFile, 'a');
  const child = spawn(DAEMON, ['--config', configFile], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  running.add(child);
  const base = 'http://127.0.0.1:' + opts.port;
  try {
    await waitHealthy(base, child, logFile);
  } catch (e) {
    child.kill('SIGKILL');
    running.delete(child);
    throw e;
  }
  return {
    base, port: opts.port, dir: opts.dir, configFile, logFile, accounts, totpSecrets,
    log: () => fs.readFileSync(logFile, 'utf8'),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 12000);
        await exited;
        clearTimeout(timer);
      }
      running.delete(child);
      fs.rmSync(opts.dir, { recursive: true, force: true });
    },
  };
}

// RFC 4648 base32 -> Buffer.
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = text.toUpperCase().replace(/[\s=]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const idx = alphabet.indexOf(ch);
    if (idx < 0) throw new Error('bad base32 character ' + ch);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// RFC 6238 TOTP (HMAC-SHA1, 30 s steps, 6 digits) for a base32 secret.
function totp(secret, timeMs = Date.now(), step = 30, digits = 6) {
  const counter = Math.floor(timeMs / 1000 / step);
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = crypto.createHmac('sha1', base32Decode(secret)).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 10 ** digits).padStart(digits, '0');
}

// The server refuses a code whose 30 s step is not newer than the last one
// it accepted for that account, and accepts the next step's code early (a
// window of one step). freshTotp() therefore hands out each step once per
// key (use server.base + username) and moves to the next step instead of
// waiting whenever it can; the code it returns stays valid for 3 s or more.
const usedSteps = new Map();
async function freshTotp(secret, key = secret) {
  for (;;) {
    const now = Date.now();
    const cur = Math.floor(now / 30000);
    const left = 30 - ((now / 1000) % 30);
    let step = Math.max(cur, (usedSteps.has(key) ? usedSteps.get(key) : -1) + 1);
    if (step === cur && left < 3) step = cur + 1;
    if (step <= cur + 1) {
      usedSteps.set(key, step);
      return totp(secret, step * 30000);
    }
    await new Promise((r) => setTimeout(r, left * 1000 + 200));
  }
}

function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
}

// A context + page at viewport vp that records console errors and uncaught
// page errors into page.errors (the tests assert it stays empty).
async function newPage(browser, vp = VIEWPORTS[0]) {
  const context = await browser.newContext({ viewport: { width: vp.width, height: vp.height } });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    // The browser logs every non-2xx fetch; expected 401/403/404s are not bugs.
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) page.errors.push('console: ' + m.text());
  });
  return page;
}

// axe-core's source, wrapped so that a page which already has it (the shell
// is one document across hash routes) skips the 500 kB re-evaluation.
let axeSource = null;
function wrappedAxeSource() {
  if (!axeSource) {
    const file = require.resolve('axe-core/axe.min.js', { paths: [path.dirname(require.resolve('@axe-core/playwright'))] });
    axeSource = 'if (!window.axe) {\n' + fs.readFileSync(file, 'utf8') + '\n}';
  }
  return axeSource;
}

// Runs axe-core on the page (WCAG 2.x A/AA and best practices; with
// enhanced: also the AAA contrast rule). Legacy mode runs axe.run() in the
// page itself, which is several times faster than the frame-by-frame mode
// and loses nothing here: the shell has no frames. Resolves to a readable
// list of violations, empty when clean.
async function axe(page, { enhanced = false } = {}) {
  const rules = enhanced ? { 'color-contrast-enhanced': { enabled: true } } : {};
  const result = await new AxeBuilder({ page, axeSource: wrappedAxeSource() })
    .setLegacyMode()
    .options({ resultTypes: ['violations'], rules })
    .analyze();
  return result.violations.map((v) => v.id + ' (' + v.impact + '): ' + v.help + '\n' +
    v.nodes.slice(0, 5).map((n) => '    ' + n.target.join(' ') + ' — ' + (n.failureSummary || '').replace(/\s+/g, ' ')).join('\n'));
}

// Saves a full-page PNG as $BUILD/e2e-output/<name>.png.
async function screenshot(page, name) {
  fs.mkdirSync(OUTPUT, { recursive: true });
  const file = path.join(OUTPUT, name.replace(/[^a-zA-Z0-9._-]+/g, '_') + '.png');
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// Waits until the shell has finished rendering the page for the current
// hash: <main> names that hash and is no longer aria-busy.
async function settled(page) {
  await page.waitForFunction(() => {
    const main = document.getElementById('main');
    return main && !main.hasAttribute('aria-busy') && main.dataset.hash === location.hash &&
      document.getElementById('page-title');
  });
}

// Signs in through the login form and waits for the next page. totpSecret:
// answer the verification-code step with a fresh code.
async function signIn(page, server, username, { password, totpSecret } = {}) {
  const pw = password || server.accounts[username];
  if (!pw) throw new Error('no password for ' + username);
  await page.goto(server.base + '/#/login');
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', pw);
  await page.click('form button[type="submit"]');
  const secret = totpSecret || server.totpSecrets[username];
  if (secret) {
    await page.waitForSelector('input[name="totp"]', { state: 'visible' });
    await page.fill('input[name="totp"]', await freshTotp(secret, server.base + username));
    await page.click('form button[type="submit"]');
  }
  await page.waitForFunction(() => !location.hash.startsWith('#/login'));
  await settled(page);
}

// Calls the JSON API from inside the page with the shell's own helper, so the
// session cookie and CSRF token are the page's.
function pageApi(page, method, apiPath, body) {
  return page.evaluate(async ([m, p, b]) => {
    const mod = await import('/api.js');
    try {
      return { ok: true, data: await mod.api(m, p, b) };
    } catch (e) {
      return { ok: false, status: e.status, code: e.code, message: e.message };
    }
  }, [method, apiPath, body]);
}

module.exports = {
  REPO, BUILD, OUTPUT, VIEWPORTS, CHROMIUM_ARGS,
  freePort, startServer, parseDemoAccounts, builtPlugins,
  totp, freshTotp, base32Decode,
  launchBrowser, newPage, axe, screenshot, settled, signIn, pageApi,
};
