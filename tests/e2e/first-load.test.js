// tests/e2e/first-load.test.js — weighs the shell's first visit (the login
// page, cold cache): requests made and bytes transferred, written to
// $BUILD/e2e-output/first-load.json and printed, and kept under a budget so
// the shell stays fast. A second visit must revalidate rather than refetch.

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./helpers');

const MAX_REQUESTS = 16;
const MAX_BYTES = 100 * 1024;

let server;
let browser;
before(async () => {
  [server, browser] = await Promise.all([h.startServer(), h.launchBrowser()]);
});
after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

async function measure(page, url) {
  const rows = [];
  const done = [];
  const onFinished = (req) => done.push((async () => {
    const res = await req.response();
    const sizes = await req.sizes();
    rows.push({
      url: req.url().replace(server.base, ''), status: res ? res.status() : 0,
      bytes: sizes.responseBodySize + sizes.responseHeadersSize,
      body: sizes.responseBodySize,
    });
  })());
  page.on('requestfinished', onFinished);
  const t0 = Date.now();
  await page.goto(url);
  await page.waitForSelector('form input[name="username"]');
  await page.waitForLoadState('networkidle');
  const ms = Date.now() - t0;
  page.off('requestfinished', onFinished);
  await Promise.all(done);
  const bytes = rows.reduce((s, r) => s + r.bytes, 0);
  const body = rows.reduce((s, r) => s + r.body, 0);
  return { requests: rows.length, bytes, body_bytes: body, ms, rows };
}

test('first load of the login page stays small', async () => {
  const page = await h.newPage(browser);
  const cold = await measure(page, server.base + '/');
  const warm = await measure(page, server.base + '/?again');
  const report = { cold, warm };
  fs.mkdirSync(h.OUTPUT, { recursive: true });
  fs.writeFileSync(path.join(h.OUTPUT, 'first-load.json'), JSON.stringify(report, null, 2));
  console.log('# first load (login page, cold): ' + cold.requests + ' requests, ' + cold.bytes +
    ' bytes (' + cold.body_bytes + ' body), ' + cold.ms + ' ms; warm: ' + warm.requests +
    ' requests, ' + warm.bytes + ' bytes');
  assert.ok(cold.rows.every((r) => r.status === 200), 'every request answered 200: ' + JSON.stringify(cold.rows));
  assert.ok(cold.requests <= MAX_REQUESTS, cold.requests + ' requests');
  assert.ok(cold.bytes <= MAX_BYTES, cold.bytes + ' bytes');
  assert.ok(warm.bytes < cold.bytes, 'the second visit reuses cached files');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
