// tests/e2e/scheduling.test.js — the scheduling plugin's pages in a real
// browser: a patient finds a time, books it and cancels it; staff approve a
// request and block time in the schedule; a reminder link confirms a visit;
// a waitlist offer is taken. Focus moves to each new step's heading, axe-core
// finds nothing at 1280 and 375 px, and no script error is logged.

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const h = require('./helpers');

let server, browser;
before(async () => {
  server = await h.startServer({ plugins: ['scheduling'] });
  browser = await h.launchBrowser();
});
after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

const addDays = (iso, n) => {
  const d = new Date(iso + 'T12:00:00Z');
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
};
function weekdayAhead(n) {
  let d = addDays(new Date().toISOString().slice(0, 10), n);
  while ([0, 6].includes(new Date(d + 'T12:00:00Z').getUTCDay())) d = addDays(d, 1);
  return d;
}
function db(sql) {
  const r = spawnSync('sqlite3', ['-cmd', '.timeout 5000', path.join(server.dir, 'atrium.db'), sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

// axe-core at both widths (or only the given ones: each run takes seconds).
async function axeBoth(page, label, viewports = h.VIEWPORTS) {
  const found = [];
  for (const vp of viewports) {
    await page.setViewportSize({ width: vp.width, height: vp.height });
    const v = await h.axe(page);
    if (v.length) found.push(label + ' @' + vp.width + ':\n  ' + v.join('\n  '));
    await h.screenshot(page, 'scheduling-' + label + '-' + vp.name);
  }
  await page.setViewportSize({ width: h.VIEWPORTS[0].width, height: h.VIEWPORTS[0].height });
  assert.deepEqual(found, []);
}

const focusedText = (page) => page.evaluate(() => document.activeElement && document.activeElement.textContent);

async function patientPage() {
  const page = await h.newPage(browser);
  await h.signIn(page, server, 'patient.demo');
  return page;
}

async function providerId(page, name) {
  const r = await h.pageApi(page, 'GET', '/api/scheduling/providers');
  return r.data.providers.find((p) => p.display_name === name).id;
}

test('a patient finds a time, books it and cancels it', async () => {
  const page = await patientPage();
  const day = weekdayAhead(3);
  await page.goto(server.base + '/#/p/scheduling/book');
  await h.settled(page);
  await page.getByLabel('Type of visit').first().selectOption({ label: 'Telehealth check-in (15 min)' });
  await page.getByLabel('Provider').first().selectOption({ label: 'Dr. Priya Patel' });
  await page.getByLabel('Earliest date').fill(day);
  await page.getByRole('button', { name: 'Find open times' }).click();
  await page.waitForFunction(() => document.activeElement && document.activeElement.textContent === 'Open times');
  await axeBoth(page, 'book-results');
  await page.getByRole('button', { name: /with Dr\. Priya Patel/ }).first().click();
  await page.waitForFunction(() => document.activeElement && document.activeElement.textContent === 'Book this visit?');
  await axeBoth(page, 'book-confirm', h.VIEWPORTS.slice(1));
  await page.getByRole('button', { name: 'Book', exact: true }).click();
  await page.waitForFunction(() => document.activeElement && document.activeElement.textContent === 'All set');
  assert.match(await page.locator('#main').innerText(), /Visit booked: Telehealth check-in with Dr\. Priya Patel/);
  assert.equal(db("SELECT COUNT(*) FROM scheduling_appointments WHERE status = 'booked'"), '1');

  await page.goto(server.base + '/#/p/scheduling/appointments');
  await h.settled(page);
  await page.getByRole('button', { name: /^Cancel Telehealth check-in/ }).click();
  assert.match(await focusedText(page), /^Cancel Telehealth check-in/);
  await page.getByLabel('Reason').fill('found another time');
  await axeBoth(page, 'appointments-cancel', h.VIEWPORTS.slice(1));
  await page.getByRole('button', { name: 'Yes, cancel this visit' }).click();
  await page.locator('.message-success', { hasText: /^Visit cancelled:/ }).waitFor();
  assert.equal(db("SELECT cancel_reason FROM scheduling_appointments WHERE status = 'cancelled'"), 'found another time');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('staff approve a request and block time from the schedule', async () => {
  const pp = await patientPage();
  const day = weekdayAhead(4);
  const prov = await providerId(pp, 'Dr. Marcus Chen');
  const s = (await h.pageApi(pp, 'GET', `/api/scheduling/slots?type=1&provider=${prov}&from=${day}&to=${day}`)).data.slots;
  const req = await h.pageApi(pp, 'POST', '/api/scheduling/appointments', { type_id: 1, provider_id: prov, start: s[2].start });
  assert.equal(req.data.appointment.status, 'pending');
  await pp.context().close();

  const page = await h.newPage(browser);
  await h.signIn(page, server, 'staff.demo');
  await page.goto(server.base + `/#/p/scheduling/schedule?provider=${prov}&date=${day}`);
  await h.settled(page);
  const row = page.locator('tr', { hasText: 'Pat Patient' });
  await row.getByText('Requested').waitFor();
  await axeBoth(page, 'schedule-day');
  await row.getByRole('combobox').selectOption('approve');
  await row.getByRole('button', { name: /^Apply/ }).click();
  await page.locator('tr', { hasText: 'Pat Patient' }).getByText('Booked', { exact: true }).waitFor();
  assert.equal(db(`SELECT status FROM scheduling_appointments WHERE id = ${req.data.appointment.id}`), 'booked');

  await page.getByLabel('Provider').nth(1).selectOption({ label: 'Dr. Marcus Chen' });
  await page.getByLabel('Day', { exact: true }).fill(day);
  await page.getByLabel('From', { exact: true }).selectOption('16:00');
  await page.getByLabel('Until', { exact: true }).selectOption('17:00');
  await page.getByLabel('Reason').fill('team meeting');
  await page.getByRole('button', { name: 'Block time' }).click();
  await page.locator('.message-success', { hasText: 'Time blocked.' }).waitFor();
  await page.getByText(/\(team meeting\)/).waitFor();
  assert.equal(db("SELECT reason FROM scheduling_blocks WHERE active = 1"), 'team meeting');
  await page.goto(server.base + `/#/p/scheduling/schedule?provider=${prov}&date=${day}&days=7`);
  await h.settled(page);
  await axeBoth(page, 'schedule-week', h.VIEWPORTS.slice(0, 1));
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a reminder link confirms the visit once', async () => {
  const page = await patientPage();
  const day = weekdayAhead(5);
  const prov = await providerId(page, 'Dr. Priya Patel');
  const s = (await h.pageApi(page, 'GET', `/api/scheduling/slots?type=3&provider=${prov}&from=${day}&to=${day}`)).data.slots;
  const a = (await h.pageApi(page, 'POST', '/api/scheduling/appointments', { type_id: 3, provider_id: prov, start: s[0].start })).data.appointment;
  const link = JSON.parse(db(`SELECT data FROM outbox WHERE kind = 'appointment_reminder' AND ref = 'appointment:${a.id}' LIMIT 1`)).link;
  await page.goto(server.base + '/' + link.replace(/^\//, ''));
  await h.settled(page);
  await page.getByRole('heading', { name: 'Your visit' }).waitFor();
  await axeBoth(page, 'reminder', h.VIEWPORTS.slice(1));
  await page.getByRole('button', { name: 'Confirm I will come' }).click();
  await page.waitForFunction(() => document.activeElement && /Thank you/.test(document.activeElement.textContent));
  assert.notEqual(db(`SELECT confirmed_at FROM scheduling_appointments WHERE id = ${a.id}`), '');
  await page.reload();
  await h.settled(page);
  await page.getByText(/already been used or has expired/).waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a waitlist offer is taken from its page', async () => {
  const page = await patientPage();
  const day = weekdayAhead(6);
  const prov = await providerId(page, 'Dr. Priya Patel');
  const joined = await h.pageApi(page, 'POST', '/api/scheduling/waitlist', { type_id: 4, provider_id: prov, from: day, to: day });
  assert.ok(joined.ok, JSON.stringify(joined));
  const staff = await h.newPage(browser);
  await h.signIn(staff, server, 'staff.demo');
  const s = (await h.pageApi(staff, 'GET', `/api/scheduling/slots?type=4&provider=${prov}&from=${day}&to=${day}`)).data.slots;
  const patient2 = Number(db("SELECT id FROM users WHERE username = 'patient2.demo'"));
  const held = await h.pageApi(staff, 'POST', '/api/scheduling/appointments', { type_id: 4, provider_id: prov, start: s[1].start, patient_id: patient2 });
  await h.pageApi(staff, 'POST', `/api/scheduling/appointments/${held.data.appointment.id}/cancel`, {});
  await staff.context().close();
  const link = JSON.parse(db(`SELECT data FROM outbox WHERE kind = 'waitlist_offer' AND ref = 'waitlist:${joined.data.entry.id}'`)).link;
  await page.goto(server.base + '/' + link.replace(/^\//, ''));
  await h.settled(page);
  await page.getByRole('button', { name: 'Take this time' }).waitFor();
  await axeBoth(page, 'offer', h.VIEWPORTS.slice(0, 1));
  await page.getByRole('button', { name: 'Take this time' }).click();
  await page.waitForFunction(() => document.activeElement && document.activeElement.textContent === 'It is yours');
  assert.equal(db(`SELECT status FROM scheduling_waitlist WHERE id = ${joined.data.entry.id}`), 'booked');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
