// tests/e2e/themes.test.js — static checks of the theme folders, no browser:
// the shell files are the same in every theme (only theme.css and logo.svg
// differ), the HTML has no inline script or style (the CSP forbids them),
// and no shell code turns data into markup.

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

const themeNames = fs.readdirSync(THEMES, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);

test('there are at least two themes, default among them', () => {
  assert.ok(themeNames.includes('default'));
  assert.ok(themeNames.length >= 2);
});

test('shared shell files are identical in every theme', () => {
  const ref = files(path.join(THEMES, 'default')).sort();
  for (const name of themeNames) {
    const mine = files(path.join(THEMES, name)).sort();
    assert.deepEqual(mine, ref, name + ' has a different file list');
    for (const f of ref) {
      if (PER_THEME.has(f)) continue;
      const a = fs.readFileSync(path.join(THEMES, 'default', f));
      const b = fs.readFileSync(path.join(THEMES, name, f));
      assert.ok(a.equals(b), 'themes/' + name + '/' + f + ' differs from themes/default/' + f);
    }
  }
});

test('index.html has no inline script, style or event handler', () => {
  for (const name of themeNames) {
    const html = fs.readFileSync(path.join(THEMES, name, 'index.html'), 'utf8');
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
  const dir = path.join(THEMES, 'default');
  for (const f of files(dir).filter((x) => x.endsWith('.js'))) {
    const src = fs.readFileSync(path.join(dir, f), 'utf8');
    for (const bad of [/\.innerHTML\b/, /\.outerHTML\b/, /insertAdjacentHTML/, /document\.write/, /\beval\(/, /new Function\(/, /\.style\.\w+\s*=/, /setAttribute\(\s*['"]style['"]/]) {
      assert.doesNotMatch(src, bad, f + ' uses ' + bad);
    }
  }
});

test('every page module exports render()', () => {
  const dir = path.join(THEMES, 'default', 'pages');
  const helpersOnly = new Set(['password-fields.js', 'totp-setup.js', 'patient-tools.js']);
  for (const f of fs.readdirSync(dir)) {
    if (helpersOnly.has(f)) continue;
    const src = fs.readFileSync(path.join(dir, f), 'utf8');
    assert.match(src, /export async function render\(root/, f + ' has no render(root, app)');
  }
});
