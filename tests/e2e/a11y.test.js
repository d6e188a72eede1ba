// tests/e2e/a11y.test.js — every page of the shell, for every role, at 1280
// and 375 px wide, in the default theme and the high-contrast theme: axe-core
// must report no violation (high-contrast also under the AAA contrast rule),
// the browser must log no script error, and a screenshot of each page is
// saved to $BUILD/e2e-output/. Plugin pages the manifest shows in the
// navigation are visited too.

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

async function audit(page, server, hash, label, shot, enhanced, failures) {
  await page.goto(server.base + '/#' + hash);
  await h.settled(page);
  const violations = await h.axe(page, { enhanced });
  if (violations.length) failures.push(label + ' ' + hash + ':\n  ' + violations.join('\n  '));
  await h.screenshot(page, shot);
}

async function navPluginPages(page) {
  return page.$$eval('#nav-list a[href^="#/p/"]', (as) => as.map((a) => a.getAttribute('href').slice(1)));
}

async function auditTheme(theme, enhanced) {
  const server = await h.startServer({ theme, auth: { self_registration: 'on' } });
  try {
    for (const vp of h.VIEWPORTS) {
      const failures = [];
      const page = await h.newPage(browser, vp);
      for (const hash of PUBLIC) {
        await audit(page, server, hash, vp.name, `${theme}-${vp.name}-public-${slug(hash)}`, enhanced, failures);
      }
      for (const [user, pages] of ROLES) {
        await h.signIn(page, server, user);
        const plugin = await navPluginPages(page);
        const role = user.split('.')[0];
        for (const hash of [...pages, ...plugin]) {
          await audit(page, server, hash, vp.name + ' ' + role, `${theme}-${vp.name}-${role}-${slug(hash)}`, enhanced, failures);
        }
        await page.click('#user-area button');
        await page.waitForSelector('input[name="username"]');
      }
      assert.deepEqual(page.errors, [], 'script errors in the page');
      assert.equal(failures.length, 0, 'axe violations:\n' + failures.join('\n'));
      await page.context().close();
    }
  } finally {
    await server.stop();
  }
}

test('default theme: every page passes axe at 1280 and 375 px', async () => {
  await auditTheme('default', false);
});

test('high-contrast theme: every page passes axe with AAA contrast at 1280 and 375 px', async () => {
  await auditTheme('high-contrast', true);
});
