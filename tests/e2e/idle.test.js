// tests/e2e/idle.test.js — the idle timeout as a patient meets it, with a
// 12 s timeout (the core accepts 10 s and up; 12 leaves a busy machine time
// to audit the open dialog): the "Are you still there?"
// alert dialog appears before the deadline with focus on "Stay signed in",
// passes axe, and keeps the session when pressed; left alone, the session
// ends and the login page says why.

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

const IDLE = 12;

let server;
let browser;
before(async () => {
  [server, browser] = await Promise.all([
    h.startServer({ auth: { idle_timeout_patient: IDLE } }),
    h.launchBrowser(),
  ]);
});
after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test('idle notice, stay signed in, then sign-out after inactivity', async () => {
  const page = await h.newPage(browser);
  await h.signIn(page, server, 'patient.demo');
  await page.goto(server.base + '/#/account');
  await h.settled(page);
  const started = Date.now();
  assert.deepEqual(await h.axe(page), [], 'axe before the notice'); // also loads axe-core early

  const dialog = page.locator('dialog[role="alertdialog"]');
  await dialog.waitFor({ state: 'visible', timeout: IDLE * 1000 });
  const shownAfter = (Date.now() - started) / 1000;
  assert.ok(shownAfter < IDLE - 2, 'notice shown well before the deadline (' + shownAfter + ' s)');
  assert.match(await dialog.innerText(), /signed out in \d+ seconds?/);
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Stay signed in');
  const violations = await h.axe(page);
  assert.deepEqual(violations, [], 'axe with the notice open');
  await h.screenshot(page, 'idle-notice-desktop');

  await page.keyboard.press('Enter'); // "Stay signed in" has focus
  await dialog.waitFor({ state: 'hidden', timeout: 3000 });
  assert.equal(new URL(page.url()).hash, '#/account', 'still on the same page');
  const me = await h.pageApi(page, 'GET', '/api/auth/me');
  assert.equal(me.ok, true, 'session is still alive after "Stay signed in"');

  // Now leave it alone: the notice comes back, then the session ends.
  await dialog.waitFor({ state: 'visible', timeout: IDLE * 1000 });
  await page.waitForFunction(() => location.hash.startsWith('#/login'), null, { timeout: IDLE * 1000 });
  const alert = page.locator('.message-slot [role="status"]');
  await alert.filter({ hasText: 'You were signed out after a period of inactivity' }).waitFor({ timeout: 3000 });
  assert.equal(await page.isVisible('dialog[role="alertdialog"]'), false);
  assert.equal(await page.textContent('#user-area'), '', 'no user shown in the header');
  assert.match(new URL(page.url()).hash, /next=/, 'remembers where the user was');
  assert.deepEqual(await h.axe(page), [], 'axe on the signed-out login page');
  await h.screenshot(page, 'idle-signed-out-desktop');

  // Signing in again returns to the page the user was on.
  await page.fill('input[name="username"]', 'patient.demo');
  await page.fill('input[name="password"]', server.accounts['patient.demo']);
  await page.click('form button[type="submit"]');
  await page.waitForFunction(() => location.hash === '#/account');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
