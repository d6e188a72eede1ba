// tests/e2e/keyboard.test.js — the shell used with the keyboard alone: the
// skip link is the first stop, shows when focused and moves focus into
// <main>; focus is visibly outlined; sign-in works with typing and Enter and
// lands focus on the new page's heading; on a 375 px screen the menu opens,
// closes with Escape and gives focus back to its button.

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

let server;
let browser;
before(async () => {
  [server, browser] = await Promise.all([h.startServer(), h.launchBrowser()]);
});
after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

function active(page) {
  return page.evaluate(() => {
    const a = document.activeElement;
    const cs = getComputedStyle(a);
    const r = a.getBoundingClientRect();
    return {
      id: a.id, tag: a.tagName, name: a.getAttribute('name'), text: a.textContent.trim().slice(0, 60),
      outlineStyle: cs.outlineStyle, outlineWidth: parseFloat(cs.outlineWidth),
      visible: r.width > 0 && r.height > 0 && r.top >= 0 && r.bottom <= innerHeight && r.left >= 0,
      inMain: Boolean(a.closest('main')),
    };
  });
}

async function tabTo(page, predicate, max = 25) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const a = await active(page);
    if (predicate(a)) return a;
  }
  throw new Error('focus never reached the target');
}

test('skip link comes first, is visible when focused and jumps into main', async () => {
  const page = await h.newPage(browser);
  await page.goto(server.base + '/');
  await h.settled(page);
  await page.keyboard.press('Tab');
  const a = await active(page);
  assert.equal(a.id, 'skip-link');
  assert.ok(a.visible, 'skip link is on screen when focused');
  assert.notEqual(a.outlineStyle, 'none');
  assert.ok(a.outlineWidth >= 2, 'focus outline at least 2px');
  await page.keyboard.press('Enter');
  const b = await active(page);
  assert.ok(b.inMain, 'focus moved into main, got ' + JSON.stringify(b));
  assert.equal(new URL(page.url()).hash, '#/login', 'the hash route is unchanged');
  // The next Tab reaches the first field of the page, not the header.
  const c = await tabTo(page, () => true, 1);
  assert.equal(c.name, 'username');
  await page.context().close();
});

test('keyboard-only sign-in with visible focus lands on the page heading', async () => {
  const page = await h.newPage(browser);
  await page.goto(server.base + '/#/login');
  await h.settled(page);
  const field = await tabTo(page, (a) => a.name === 'username');
  assert.equal(field.outlineStyle, 'solid', 'focused input shows an outline');
  assert.ok(field.outlineWidth >= 2);
  await page.keyboard.type('patient.demo');
  await page.keyboard.press('Tab');
  assert.equal((await active(page)).name, 'password');
  await page.keyboard.type(server.accounts['patient.demo']);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => location.hash === '#/');
  await h.settled(page);
  const heading = await active(page);
  assert.equal(heading.id, 'page-title');
  assert.match(heading.text, /^Welcome/);
  // Buttons show focus too.
  const btn = await tabTo(page, (a) => a.tag === 'BUTTON');
  assert.notEqual(btn.outlineStyle, 'none');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('on a phone-sized screen the menu opens and closes from the keyboard', async () => {
  const page = await h.newPage(browser, h.VIEWPORTS[1]);
  await page.goto(server.base + '/#/login');
  await h.settled(page);
  assert.equal(await page.isVisible('#nav-list a'), false, 'menu starts folded');
  await tabTo(page, (a) => a.id === 'nav-toggle');
  await page.keyboard.press('Enter');
  assert.equal(await page.getAttribute('#nav-toggle', 'aria-expanded'), 'true');
  assert.equal(await page.isVisible('#nav-list a'), true);
  const link = await tabTo(page, (a) => a.tag === 'A', 3);
  assert.ok(link.visible);
  await page.keyboard.press('Escape');
  assert.equal(await page.getAttribute('#nav-toggle', 'aria-expanded'), 'false');
  assert.equal((await active(page)).id, 'nav-toggle');
  await page.context().close();
});
