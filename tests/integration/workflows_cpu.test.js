// CPU spent inside library calls: the instruction hook only runs between
// Lua instructions, so a library function that loops in C (string.rep of an
// empty string, table.move over nil slots) or a loop of calls that each
// walk a large string must still end within the call's time limit. The
// daemon has the default limits (1,000,000 instructions, 50 ms) and six
// workers, since a case that escapes keeps its worker spinning; each
// booking must be answered within 2 s (40 times the limit) while /healthz
// keeps answering. A daemon left with a spinning worker is killed at the
// end.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startDaemon, loginAs, request } = require('./lib');

const LIMIT_MS = 2000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let d, pat, admin, probe, stuck = false;

before(async () => {
  d = await startDaemon({ config: { plugins: { scheduling: 'on' }, server: { workers: 6 } } });
  [pat, admin] = await Promise.all([loginAs(d, 'patient.demo'), loginAs(d, 'admin.demo')]);
  const type = (await pat.get('/api/scheduling/types')).json.types.find((t) => t.name === 'Telehealth check-in');
  const prov = type.provider_ids[0];
  for (let n = 7; !probe && n < 21; n++) {
    const day = new Date(Date.now() + n * 86400e3).toISOString().slice(0, 10);
    const s = (await pat.get(`/api/scheduling/slots?type=${type.id}&provider=${prov}&from=${day}&to=${day}`)).json.slots;
    if (s.length) probe = { type_id: type.id, provider_id: prov, start: s[0].start };
  }
  assert.ok(probe, 'a free slot');
});
after(() => d && d.stop(stuck ? 'SIGKILL' : 'SIGTERM'));

// Loads `body` as the only before_book handler, books the probe slot and
// checks the answer came in time, /healthz answering meanwhile.
async function bounded(label, body) {
  fs.writeFileSync(path.join(d.dir, 'workflows', 'cpu.lua'),
    `atrium.on("appointment.before_book", function(ev)\n${body}\nreturn "done"\nend)\n`);
  assert.equal((await admin.post('/api/admin/workflows/reload')).status, 200);
  const t0 = Date.now();
  let answered = false;
  const booking = pat.post('/api/scheduling/appointments', probe)
    .then((r) => { answered = true; return r; }, () => { answered = true; return null; });
  await sleep(30);
  while (!answered && Date.now() - t0 < LIMIT_MS) {
    const t = Date.now();
    assert.equal((await request(d, 'GET', '/healthz')).status, 200);
    assert.ok(Date.now() - t < 1000, `${label}: /healthz took ${Date.now() - t} ms`);
    await sleep(50);
  }
  const r = await Promise.race([booking, sleep(Math.max(0, LIMIT_MS - (Date.now() - t0)))]);
  if (!r) stuck = true;
  assert.ok(r, `${label}: no answer within ${LIMIT_MS} ms (a worker thread is still running the handler)`);
  // Either the handler finished ("done") or it was stopped (the default).
  assert.equal(r.status, 403, r.body);
  assert.ok(Date.now() - t0 < LIMIT_MS + 100, `${label}: answered after ${Date.now() - t0} ms`);
}

test('string.rep of an empty string a huge number of times ends within the time limit', async () => {
  await bounded('(""):rep(2^53)', 'local s = (""):rep(2^53)');
});

test('table.move over a huge range of nil slots ends within the time limit', async () => {
  await bounded('table.move', 'table.move({}, 1, math.maxinteger - 1, 1)');
});

test('a loop of utf8.len over a 6 MiB string ends within the time limit', async () => {
  await bounded('utf8.len loop', 'local s = ("x"):rep(6 * 2^20)\nwhile true do local n = utf8.len(s) end');
});
