// tests/e2e/auth.test.js — sign-in and account flows through the real UI:
// a wrong password shows an error; an admin (with TOTP) creates a practice
// account and a patient with an activation code, and the patient activates
// and signs in; a new admin is taken straight to two-step enrolment; a
// patient turns on two-step verification from the account page, keeps the
// recovery codes, and later signs in with one of them.

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

async function signOut(page) {
  await page.click('#user-area button');
  await page.waitForSelector('input[name="username"]');
}

async function submitIn(page, sectionHeading) {
  const form = page.locator('section', { has: page.locator('h2', { hasText: sectionHeading }) }).locator('form');
  await form.locator('button[type="submit"]').click();
}

test('a wrong password shows an error and keeps the user on the login page', async () => {
  const page = await h.newPage(browser);
  await page.goto(server.base + '/#/login');
  await page.fill('input[name="username"]', 'patient.demo');
  await page.fill('input[name="password"]', 'not-the-password');
  await page.click('form button[type="submit"]');
  const alert = page.locator('[role="alert"] .message-error');
  await alert.waitFor();
  assert.match(await alert.innerText(), /username or password is not correct/);
  assert.equal(await page.inputValue('input[name="password"]'), '', 'password field cleared');
  assert.equal(await page.evaluate(() => document.activeElement.name), 'password', 'focus back on the password');
  assert.match(new URL(page.url()).hash, /^#\/login/);
  assert.deepEqual(await h.axe(page), [], 'axe with the error shown');
  await h.screenshot(page, 'login-error-desktop');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('admin creates accounts and an activation code; the patient activates and signs in', async () => {
  const page = await h.newPage(browser);
  await h.signIn(page, server, 'admin.demo');
  await page.goto(server.base + '/#/admin/accounts');
  await h.settled(page);

  // A staff account.
  await page.fill('input[name="staff-name"]', 'Nora Nurse');
  await page.fill('input[name="staff-username"]', 'nora.nurse');
  await page.selectOption('select[name="staff-role"]', 'staff');
  await page.fill('input[name="staff-password"]', 'Nurse-Harbor-Lantern-93');
  await submitIn(page, 'Create a practice account');
  await page.getByText('Created Nora Nurse (nora.nurse).').waitFor();
  await page.locator('table').getByText('nora.nurse').waitFor();

  // A patient with an activation code.
  await page.fill('input[name="patient-name"]', 'Paula Patient');
  await page.fill('input[name="patient-dob"]', '1990-05-17');
  await submitIn(page, 'Add a patient');
  const codeEl = page.locator('#activation-code');
  await codeEl.waitFor();
  const code = (await codeEl.innerText()).trim();
  assert.ok(code.length >= 6, 'activation code shown: ' + code);
  assert.equal(await page.evaluate(() => document.activeElement.className), 'code-panel', 'focus moves to the code');
  assert.deepEqual(await h.axe(page), [], 'axe with the code shown');
  await h.screenshot(page, 'admin-activation-code-desktop');
  await signOut(page);

  // The patient activates...
  await page.goto(server.base + '/#/activate');
  await h.settled(page);
  await page.fill('input[name="code"]', code);
  await page.fill('input[name="username"]', 'paula.p');
  await page.fill('input[name="new-password"]', 'Paula-River-Compass-58');
  await page.fill('input[name="repeat-password"]', 'Paula-River-Compass-58');
  await page.click('form button[type="submit"]');
  await page.waitForFunction(() => location.hash.startsWith('#/login'));
  await page.getByText('Your account is active').waitFor();
  assert.equal(await page.inputValue('input[name="username"]'), 'paula.p');

  // ...and signs in.
  await page.fill('input[name="password"]', 'Paula-River-Compass-58');
  await page.press('input[name="password"]', 'Enter');
  await page.waitForFunction(() => location.hash === '#/');
  await h.settled(page);
  assert.equal(await page.textContent('#page-title'), 'Welcome, Paula Patient');
  await signOut(page);

  // The code cannot be used twice.
  await page.goto(server.base + '/#/activate');
  await page.fill('input[name="code"]', code);
  await page.fill('input[name="username"]', 'paula.again');
  await page.fill('input[name="new-password"]', 'Paula-River-Compass-58');
  await page.fill('input[name="repeat-password"]', 'Paula-River-Compass-58');
  await page.click('form button[type="submit"]');
  await page.locator('.field-error:not([hidden]), [role="alert"] .message-error').first().waitFor();
  assert.match(new URL(page.url()).hash, /^#\/activate/);

  // The staff account works too.
  await h.signIn(page, server, 'nora.nurse', { password: 'Nurse-Harbor-Lantern-93' });
  assert.equal(await page.textContent('#page-title'), 'Welcome, Nora Nurse');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

async function enrolThroughUi(page, username, headingLevel) {
  await page.getByRole('button', { name: 'Set up two-step verification' }).click();
  const secretEl = page.locator('.secret');
  await secretEl.waitFor();
  const secret = (await secretEl.innerText()).replace(/\s+/g, '').replace(/^Key:/, '');
  assert.match(secret, /^[A-Z2-7]{16,}$/);
  const img = page.locator('.qr img');
  assert.match(await img.getAttribute('src'), /^data:image\/svg\+xml;base64,/);
  assert.ok((await img.getAttribute('alt')).length > 20, 'QR code has alt text');
  assert.ok(await img.evaluate((i) => i.complete && i.naturalWidth > 0), 'QR code image renders');
  assert.deepEqual(await h.axe(page), [], 'axe at the scan step');
  await h.screenshot(page, username + '-totp-scan-desktop');

  await page.fill('input[name="totp-code"]', await h.freshTotp(secret, server.base + username));
  await page.getByRole('button', { name: 'Confirm and turn on' }).click();
  await page.locator(headingLevel + '#totp-codes').waitFor();
  const codes = await page.locator('.recovery-codes li').allInnerTexts();
  assert.ok(codes.length >= 5, 'recovery codes shown: ' + codes.length);
  assert.deepEqual(await h.axe(page), [], 'axe at the recovery-code step');
  await h.screenshot(page, username + '-totp-codes-desktop');

  // "Done" without ticking the box is refused.
  await page.getByRole('button', { name: 'Done' }).click();
  await page.getByText('Please store the codes first').waitFor();
  await page.check('#codes-stored');
  await page.getByRole('button', { name: 'Done' }).click();
  return { secret, codes: codes.map((c) => c.trim()) };
}

test('a new admin must enrol in two-step verification before anything else', async () => {
  const page = await h.newPage(browser);
  await h.signIn(page, server, 'admin.demo');
  const created = await h.pageApi(page, 'POST', '/api/admin/users',
    { username: 'ada.two', display_name: 'Ada Two', role: 'admin', password: 'Second-Admin-Quartz-71' });
  assert.equal(created.ok, true, JSON.stringify(created));
  await signOut(page);

  await page.fill('input[name="username"]', 'ada.two');
  await page.fill('input[name="password"]', 'Second-Admin-Quartz-71');
  await page.click('form button[type="submit"]');
  await page.waitForFunction(() => location.hash === '#/enroll');
  await h.settled(page);
  assert.deepEqual(await page.$$eval('#nav-list a', (as) => as.map((a) => a.textContent)), ['Two-step verification']);
  await page.goto(server.base + '/#/admin/accounts');
  await page.waitForFunction(() => location.hash === '#/enroll');
  await h.settled(page);
  assert.deepEqual(await h.axe(page), [], 'axe on the enrolment page');

  await enrolThroughUi(page, 'ada.two', 'h2');
  await page.waitForFunction(() => location.hash === '#/');
  await h.settled(page);
  assert.equal(await page.textContent('#page-title'), 'Welcome, Ada Two');
  assert.ok(await page.isVisible('#nav-list a[href="#/admin/accounts"]'));
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a patient turns on two-step verification and later signs in with a recovery code', async () => {
  const page = await h.newPage(browser);
  await h.signIn(page, server, 'patient2.demo');
  await page.goto(server.base + '/#/account');
  await h.settled(page);
  const { codes } = await enrolThroughUi(page, 'patient2.demo', 'h3');
  await page.getByText('Two-step verification is on.').first().waitFor();
  await signOut(page);

  await page.fill('input[name="username"]', 'patient2.demo');
  await page.fill('input[name="password"]', server.accounts['patient2.demo']);
  await page.click('form button[type="submit"]');
  await page.locator('input[name="totp"]').waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => document.activeElement.name), 'totp');
  await page.fill('input[name="totp"]', codes[0]);
  await page.click('form button[type="submit"]');
  await page.waitForFunction(() => location.hash === '#/');
  await h.settled(page);
  assert.match(await page.textContent('#page-title'), /^Welcome/);
  await signOut(page);

  // A used recovery code is refused.
  await page.fill('input[name="username"]', 'patient2.demo');
  await page.fill('input[name="password"]', server.accounts['patient2.demo']);
  await page.click('form button[type="submit"]');
  await page.locator('input[name="totp"]').waitFor({ state: 'visible' });
  await page.fill('input[name="totp"]', codes[0]);
  await page.click('form button[type="submit"]');
  await page.getByText('That code was not accepted').waitFor();
  assert.match(new URL(page.url()).hash, /^#\/login/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('sessions list: sign out another session; a password change ends the others', async () => {
  const a = await h.newPage(browser);
  const b = await h.newPage(browser);
  await h.signIn(a, server, 'patient.demo');
  await h.signIn(b, server, 'patient.demo');

  await a.goto(server.base + '/#/account');
  await h.settled(a);
  const rows = a.locator('section', { has: a.locator('h2', { hasText: 'Where you are signed in' }) }).locator('tbody tr');
  assert.equal(await rows.count(), 2);
  await rows.locator('button', { hasText: 'Sign out' }).click();
  await a.getByText('That session was signed out.').waitFor();
  await a.waitForFunction(() => document.querySelectorAll('#sessions-h ~ div tbody tr').length === 1);
  assert.equal(await rows.count(), 1);

  await b.goto(server.base + '/#/notifications');
  await b.waitForFunction(() => location.hash.startsWith('#/login?reason=ended'));
  await b.getByText('Your session has ended').waitFor();

  // Password change: the other session ends, this one keeps working with
  // the CSRF token the server rotated.
  await h.signIn(b, server, 'patient.demo');
  const oldPassword = server.accounts['patient.demo'];
  const newPassword = 'Violet-Harbor-Compass-77';
  const change = async (from, to) => {
    await a.fill('input[name="current-password"]', from);
    await a.fill('#password-h ~ div input[name="new-password"]', to);
    await a.fill('#password-h ~ div input[name="repeat-password"]', to);
    await a.locator('#password-h ~ div button[type="submit"]').click();
    await a.getByText('Your password was changed').waitFor();
  };
  await change(oldPassword, newPassword);
  await b.goto(server.base + '/#/account');
  await b.waitForFunction(() => location.hash.startsWith('#/login'));
  await a.goto(server.base + '/#/notifications');
  await h.settled(a);
  await a.goto(server.base + '/#/account');
  await h.settled(a);
  await change(newPassword, oldPassword); // an unsafe request with the new token
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
  await a.context().close();
  await b.context().close();
});
