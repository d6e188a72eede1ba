// tests/e2e/themes.test.js — static checks of the theme folders, no browser:
// the shell lives once in themes/shell and each theme holds only what makes
// it different (theme.css, logo.svg, or an override that really differs),
// the HTML has no inline script or style (the CSP forbids them), and no
// shell code turns data into markup.

'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { REPO } = require('./helpers');

const THEMES = path.join(REPO, 'themes');
const PER_THEME = new Set(['theme.css', 'logo.svg']);

function files(dir, base = dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const full = path.join(dir, d.name);
    assert.ok(!d.isSymbolicLink(), full + ' is a symlink; the server refuses those');
    return d.isDirectory() ? files(full, base) : [path.relative(base, full)];
  });
}

const SHELL = path.join(THEMES, 'shell');
const themeNames = fs.readdirSync(THEMES, { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== 'shell').map((d) => d.name);

test('there are at least two themes, default among them', () => {
  assert.ok(themeNames.includes('default'));
  assert.ok(themeNames.length >= 2);
});

test('each theme has its own look and copies nothing from the shell', () => {
  for (const name of themeNames) {
    const mine = files(path.join(THEMES, name));
    for (const f of PER_THEME) assert.ok(mine.includes(f), name + ' lacks ' + f);
    for (const f of mine) {
      if (PER_THEME.has(f) || f.startsWith('notifications/')) continue;
      const shellFile = path.join(SHELL, f);
      assert.ok(fs.existsSync(shellFile), `themes/${name}/${f} overrides nothing in the shell`);
      assert.ok(!fs.readFileSync(path.join(THEMES, name, f)).equals(fs.readFileSync(shellFile)),
        `themes/${name}/${f} is a plain copy of themes/shell/${f}`);
    }
  }
});

test('index.html has no inline script, style or event handler', () => {
  for (const name of ['shell', ...themeNames]) {
    const file = path.join(THEMES, name, 'index.html');
    if (!fs.existsSync(file)) continue;
    const html = fs.readFileSync(file, 'utf8');
    for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
      assert.match(m[1], /\bsrc=/, 'inline <script> in ' + name);
      assert.equal(m[2].trim(), '', 'inline script body in ' + name);
    }
    assert.doesNotMatch(html, /<style\b/i, 'inline <style> in ' + name);
    assert.doesNotMatch(html, /\sstyle\s*=/i, 'style attribute in ' + name);
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'inline event handler in ' + name);
  }
});

test('shell JavaScript never parses strings as HTML or code', () => {
  const dir = SHELL;
  for (const f of files(dir).filter((x) => x.endsWith('.js'))) {
    const src = fs.readFileSync(path.join(dir, f), 'utf8');
    for (const bad of [/\.innerHTML\b/, /\.outerHTML\b/, /insertAdjacentHTML/, /document\.write/, /\beval\(/, /new Function\(/, /\.style\.\w+\s*=/, /setAttribute\(\s*['"]style['"]/]) {
      assert.doesNotMatch(src, bad, f + ' uses ' + bad);
    }
  }
});

test('every page module exports render()', () => {
  const dir = path.join(SHELL, 'pages');
  const helpersOnly = new Set(['password-fields.js', 'totp-setup.js', 'patient-tools.js']);
  for (const f of fs.readdirSync(dir)) {
    if (helpersOnly.has(f)) continue;
    const src = fs.readFileSync(path.join(dir, f), 'utf8');
    assert.match(src, /export async function render\(root/, f + ' has no render(root, app)');
  }
});
