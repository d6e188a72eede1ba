// tests/e2e/a11y.test.js — every page of the shell, for every role, at 1280
// and 375 px wide in the default theme: axe-core must report no violation,
// the browser must log no script error, and a screenshot of each page is
// saved to $BUILD/e2e-output/. Plugin pages the manifest shows in the
// navigation are visited too. The high-contrast theme gets the same pages
// under axe plus the AAA contrast rule at 1280 px, and its login and home
// pages at 375 px (its layout is the same shell.css; this keeps the suite
// inside its time budget).

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

// [role account, built-in pages]; plugin pages come from the manifest.
const ROLES = [
  ['patient.demo', ['/', '/account', '/notifications']],
  ['staff.demo', ['/', '/patients']],
  ['physician.demo', ['/']],
  ['admin.demo', ['/', '/admin/accounts', '/admin/plugins', '/admin/workflows', '/admin/audit', '/account', '/notifications']],
];
const PUBLIC = ['/login', '/activate', '/register', '/no-such-page'];

let browser;
before(async () => { browser = await h.launchBrowser(); });
after(async () => { if (browser) await browser.close(); });

function slug(s) {
  return s.replace(/^\/+/, '').replace(/[^a-z0-9]+/gi, '-') || 'home';
}

// Opens hash and audits it at each viewport width (resizing the same page,
// which keeps the session and the injected axe-core). On phones the home
// page is audited a second time with the menu open.
async function auditPage(page, server, hash, who, theme, enhanced, failures) {
  await page.goto(server.base + '/#' + hash);
  await h.settled(page);
  const everyWidth = theme === 'default' || hash === '/' || hash === '/login';
  for (const vp of everyWidth ? h.VIEWPORTS : h.VIEWPORTS.slice(0, 1)) {
    await page.setViewportSize({ width: vp.width, height: vp.height });
    const label = `${theme}-${vp.name}-${who}-${slug(hash)}`;
    const violations = await h.axe(page, { enhanced });
    if (violations.length) failures.push(label + ':\n  ' + violations.join('\n  '));
    await h.screenshot(page, label);
    if (vp.width < 768 && hash === '/') {
      await page.click('#nav-toggle');
      const open = await h.axe(page, { enhanced });
      if (open.length) failures.push(label + ' (menu open):\n  ' + open.join('\n  '));
      await h.screenshot(page, label + '-menu');
      await page.click('#nav-toggle');
    }
  }
  await page.setViewportSize({ width: h.VIEWPORTS[0].width, height: h.VIEWPORTS[0].height });
}

async function navPluginPages(page) {
  return page.$$eval('#nav-list a[href^="#/p/"]', (as) => as.map((a) => a.getAttribute('href').slice(1)));
}

async function auditTheme(theme, enhanced) {
  const server = await h.startServer({ theme, auth: { self_registration: 'on' } });
  const failures = [];
  try {
    const page = await h.newPage(browser);
    for (const hash of PUBLIC) await auditPage(page, server, hash, 'public', theme, enhanced, failures);
    for (const [user, pages] of ROLES) {
      await h.signIn(page, server, user);
      const plugin = await navPluginPages(page);
      for (const hash of [...pages, ...plugin]) {
        await auditPage(page, server, hash, user.split('.')[0], theme, enhanced, failures);
      }
      await page.click('#user-area button');
      await page.waitForSelector('input[name="username"]');
    }
    assert.deepEqual(page.errors, [], 'script errors in the page');
    await page.context().close();
  } finally {
    await server.stop();
  }
  assert.equal(failures.length, 0, 'axe violations:\n' + failures.join('\n'));
}

test('default theme: every page passes axe at 1280 and 375 px', async () => {
  await auditTheme('default', false);
});

test('high-contrast theme: every page passes axe with AAA contrast', async () => {
  await auditTheme('high-contrast', true);
});
