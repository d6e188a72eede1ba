// Integration tests of the scheduling plugin under contention: 50 clients
// booking one slot, overlapping visits of different lengths, the database
// constraints themselves, and the waitlist: offers in order, the race of
// two accepts, expiry handing the slot to the next patient, and moving a
// waiting visit to an earlier time.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const { startDaemon, loginAs } = require('./lib');

const TZ = 'Europe/London';
const FOLLOW_UP = 2;
const PHYSICAL = 3;
const TELEHEALTH = 4;

const localDate = (d = new Date()) => new Intl.DateTimeFormat('en-CA',
  { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
const addDays = (iso, n) => {
  const x = new Date(iso + 'T12:00:00Z');
  x.setUTCDate(x.getUTCDate() + n);
  return x.toISOString().slice(0, 10);
};
const weekday = (iso) => new Date(iso + 'T12:00:00Z').getUTCDay();
function nextWeekday(minDays) {
  let x = addDays(localDate(), minDays);
  while (weekday(x) === 0 || weekday(x) === 6) x = addDays(x, 1);
  return x;
}
const epoch = (iso) => Math.floor(Date.parse(iso) / 1000);
function q(dd, sql, ok = true) {
  const r = spawnSync('sqlite3', ['-cmd', '.timeout 5000', dd.dbPath, sql], { encoding: 'utf8' });
  if (ok && r.status !== 0) throw new Error('sqlite3: ' + r.stderr);
  return ok ? r.stdout.trim() : r;
}

let d, pat, pat2, staff, P1, P2;

async function slots(c, type, provider, from, to = from) {
  const r = await c.get(`/api/scheduling/slots?type=${type}&provider=${provider}&from=${from}&to=${to}`);
  assert.equal(r.status, 200, r.body);
  return r.json.slots;
}

before(async () => {
  d = await startDaemon({
    config: {
      plugins: { scheduling: 'on' },
      practice: { timezone: TZ },
      'plugin.scheduling': { offer_batch: 3, offer_ttl_minutes: 30 },
    },
  });
  [pat, pat2, staff] = await Promise.all(['patient.demo', 'patient2.demo', 'staff.demo'].map((u) => loginAs(d, u)));
  const prov = (await staff.get('/api/scheduling/providers')).json.providers;
  P1 = prov.find((p) => p.display_name === 'Dr. Priya Patel').id;
  P2 = prov.find((p) => p.display_name === 'Dr. Marcus Chen').id;
});
after(() => d && d.stop());

test('50 clients booking the same slot at once: exactly one 201 and one row', async () => {
  const day = nextWeekday(3);
  const [s] = await slots(pat, TELEHEALTH, P1, day);
  const clients = [];
  for (let i = 0; i < 50; i++) clients.push(i % 2 ? await loginAs(d, 'patient2.demo') : await loginAs(d, 'patient.demo'));
  const res = await Promise.all(clients.map((c) => c.post('/api/scheduling/appointments',
    { type_id: TELEHEALTH, provider_id: P1, start: s.start })));
  const codes = res.map((r) => r.status).sort();
  assert.equal(codes.filter((c) => c === 201).length, 1, codes.join(','));
  assert.equal(codes.filter((c) => c === 409).length, 49, codes.join(','));
  assert.ok(res.filter((r) => r.status === 409).every((r) => r.json.error.code === 'slot_taken'));
  assert.equal(q(d, `SELECT COUNT(*) FROM scheduling_appointments WHERE provider_id = ${P1} AND start_utc = ${epoch(s.start)}`), '1');
  assert.equal(q(d, `SELECT COUNT(*) FROM scheduling_slot_claims WHERE provider_id = ${P1} AND slot_utc >= ${epoch(s.start)} AND slot_utc < ${epoch(s.end)}`), '3');
});

test('overlapping visits of different lengths: one wins, no granule is claimed twice', async () => {
  const day = nextWeekday(4);
  const s40 = await slots(pat, PHYSICAL, P2, day);
  const long = s40[0];
  const short = (await slots(pat, TELEHEALTH, P2, day)).find((x) => x.start > long.start && x.start < long.end);
  assert.ok(short, 'a 15-minute slot inside the 40-minute one');
  const reqs = [];
  for (let i = 0; i < 20; i++) {
    const c = i % 2 ? pat : pat2;
    reqs.push(i % 4 < 2
      ? c.post('/api/scheduling/appointments', { type_id: PHYSICAL, provider_id: P2, start: long.start })
      : c.post('/api/scheduling/appointments', { type_id: TELEHEALTH, provider_id: P2, start: short.start }));
  }
  const res = await Promise.all(reqs);
  assert.equal(res.filter((r) => r.status === 201).length, 1, res.map((r) => r.status).join(','));
  assert.equal(q(d, `SELECT COUNT(*) FROM scheduling_appointments WHERE provider_id = ${P2} AND status = 'booked' AND start_utc < ${epoch(long.end)} AND end_utc > ${epoch(long.start)}`), '1');
});

test('the database itself refuses a second active booking or an overlapping claim', async () => {
  const day = nextWeekday(5);
  const [s] = await slots(pat, FOLLOW_UP, P1, day);
  const r = await staff.post('/api/scheduling/appointments', { type_id: FOLLOW_UP, provider_id: P1, start: s.start, patient_id: pat.user.id });
  assert.equal(r.status, 201, r.body);
  const t = epoch(s.start);
  const ins = (status) => q(d, `INSERT INTO scheduling_appointments (patient_id, provider_id, type_id, location, start_utc, end_utc, local_date, status, booked_by, created_at, updated_at) VALUES (${pat2.user.id}, ${P1}, ${FOLLOW_UP}, 'x', ${t}, ${t + 1200}, '${day}', '${status}', 1, 0, 0)`, false);
  const dup = ins('booked');
  assert.notEqual(dup.status, 0);
  assert.match(dup.stderr, /UNIQUE constraint failed/);
  assert.equal(ins('cancelled').status, 0, 'a cancelled row may share the start');
  const claim = q(d, `INSERT INTO scheduling_slot_claims (provider_id, slot_utc, appointment_id) VALUES (${P1}, ${t + 600}, ${r.json.appointment.id})`, false);
  assert.notEqual(claim.status, 0);
  assert.match(claim.stderr, /UNIQUE constraint failed|PRIMARY KEY/);
});

// The first offer token of a waitlist entry, from the outbox.
function offerToken(entryId) {
  const rows = q(d, `SELECT data FROM outbox WHERE kind = 'waitlist_offer' AND ref = 'waitlist:${entryId}' ORDER BY id DESC LIMIT 1`);
  return rows ? JSON.parse(rows).token : null;
}

test('a freed slot is offered to the waitlist in order; of two accepts exactly one wins', async () => {
  const day = nextWeekday(6);
  const s = (await slots(pat, TELEHEALTH, P2, day))[4];
  const held = await staff.post('/api/scheduling/appointments', { type_id: TELEHEALTH, provider_id: P2, start: s.start, patient_id: pat.user.id });
  assert.equal(held.status, 201, held.body);
  const w1 = await pat.post('/api/scheduling/waitlist', { type_id: TELEHEALTH, provider_id: P2, from: day, to: day });
  const w2 = await pat2.post('/api/scheduling/waitlist', { type_id: TELEHEALTH, from: day, to: addDays(day, 3) });
  assert.equal(w1.status, 201, w1.body);
  assert.equal(w2.status, 201, w2.body);
  assert.equal((await pat2.post('/api/scheduling/waitlist', { type_id: TELEHEALTH, from: day })).status, 409);
  assert.equal(offerToken(w1.json.entry.id), null);
  assert.equal((await staff.post(`/api/scheduling/appointments/${held.json.appointment.id}/cancel`)).status, 200);
  const t1 = offerToken(w1.json.entry.id);
  const t2 = offerToken(w2.json.entry.id);
  assert.ok(t1 && t2, 'both entries got an offer');
  assert.notEqual(t1, t2);
  const o = await pat.get(`/api/scheduling/offers/${t1}`);
  assert.equal(o.status, 200);
  assert.equal(o.json.offer.start, s.start);
  assert.equal(o.json.offer.status, 'sent');
  // another patient's offer is invisible
  assert.equal((await pat2.get(`/api/scheduling/offers/${t1}`)).status, 404);
  assert.equal((await pat2.post(`/api/scheduling/offers/${t1}/accept`)).status, 404);
  const [a1, a2] = await Promise.all([
    pat.post(`/api/scheduling/offers/${t1}/accept`),
    pat2.post(`/api/scheduling/offers/${t2}/accept`),
  ]);
  const codes = [a1.status, a2.status].sort();
  assert.deepEqual(codes, [201, 409], a1.body + ' ' + a2.body);
  const loser = a1.status === 409 ? a1 : a2;
  assert.equal(loser.json.error.message, 'the slot was taken');
  const winnerEntry = a1.status === 201 ? w1 : w2;
  const loserEntry = a1.status === 201 ? w2 : w1;
  const loserPatient = a1.status === 201 ? pat2.user.id : pat.user.id;
  assert.equal(q(d, `SELECT COUNT(*) FROM scheduling_appointments WHERE provider_id = ${P2} AND start_utc = ${epoch(s.start)} AND status = 'booked'`), '1');
  assert.equal(q(d, `SELECT status FROM scheduling_waitlist WHERE id = ${winnerEntry.json.entry.id}`), 'booked');
  assert.equal(q(d, `SELECT status FROM scheduling_waitlist WHERE id = ${loserEntry.json.entry.id}`), 'active');
  assert.equal(q(d, `SELECT COUNT(*) FROM outbox WHERE kind = 'waitlist_lost' AND user_id = ${loserPatient}`), '1');
  const again = await (loserPatient === pat.user.id ? pat : pat2)
    .post(`/api/scheduling/offers/${loserPatient === pat.user.id ? t1 : t2}/accept`);
  assert.equal(again.status, 409);
  const winnerToken = a1.status === 201 ? t1 : t2;
  assert.equal((await (a1.status === 201 ? pat : pat2).post(`/api/scheduling/offers/${winnerToken}/accept`)).status, 409);
  // the tokens never reach the audit log
  assert.equal(q(d, `SELECT COUNT(*) FROM audit_log WHERE object_id LIKE '%${t1}%' OR object_id LIKE '%${t2}%'`), '0');
  const m = await staff.get(`/api/scheduling/metrics?from=${localDate()}&to=${localDate()}`);
  assert.ok(m.json.waitlist.offers_sent >= 2);
  assert.ok(m.json.waitlist.offers_accepted >= 1);
  // leaving the waitlist
  assert.equal((await pat.del(`/api/scheduling/waitlist/${loserEntry.json.entry.id}`)).status,
    loserPatient === pat.user.id ? 200 : 404);
});

test('a waiting visit moves to an earlier slot when one frees up', async () => {
  const day = nextWeekday(8);
  const s = await slots(pat, PHYSICAL, P1, day);
  const early = s[0];
  const late = s[s.length - 1];
  const other = await staff.post('/api/scheduling/appointments', { type_id: PHYSICAL, provider_id: P1, start: early.start, patient_id: pat2.user.id });
  const mine = await pat.post('/api/scheduling/appointments', { type_id: PHYSICAL, provider_id: P1, start: late.start });
  assert.equal(mine.status, 201, mine.body);
  const w = await pat.post('/api/scheduling/waitlist', { type_id: PHYSICAL, provider_id: P1, appointment_id: mine.json.appointment.id, to: day });
  assert.equal(w.status, 201, w.body);
  assert.equal((await pat.post('/api/scheduling/waitlist', { type_id: PHYSICAL, appointment_id: other.json.appointment.id })).status, 422);
  assert.equal((await pat2.post(`/api/scheduling/appointments/${other.json.appointment.id}/cancel`)).status, 200);
  const token = offerToken(w.json.entry.id);
  assert.ok(token);
  const acc = await pat.post(`/api/scheduling/offers/${token}/accept`);
  assert.equal(acc.status, 201, acc.body);
  assert.equal(acc.json.appointment.id, mine.json.appointment.id, 'the same visit, moved');
  assert.equal(acc.json.appointment.start, early.start);
  assert.ok((await slots(pat, PHYSICAL, P1, day)).some((x) => x.start === late.start), 'the later slot is free again');
});

test('offers expire and the job offers the slot to the next entry', async (t) => {
  const d2 = await startDaemon({
    config: {
      plugins: { scheduling: 'on' },
      practice: { timezone: TZ },
      'plugin.scheduling': { offer_batch: 1, offer_check_seconds: 1 },
    },
  });
  t.after(() => d2.stop());
  const [a, b, st] = await Promise.all(['patient.demo', 'patient2.demo', 'staff.demo'].map((u) => loginAs(d2, u)));
  const day = nextWeekday(4);
  const s = (await slots(a, TELEHEALTH, P1, day))[2];
  const held = await st.post('/api/scheduling/appointments', { type_id: TELEHEALTH, provider_id: P1, start: s.start, patient_id: b.user.id });
  const wa = (await a.post('/api/scheduling/waitlist', { type_id: TELEHEALTH, from: day, to: day })).json.entry;
  const wb = (await b.post('/api/scheduling/waitlist', { type_id: TELEHEALTH, from: day, to: day })).json.entry;
  assert.equal((await st.post(`/api/scheduling/appointments/${held.json.appointment.id}/decline`)).status, 409);
  assert.equal((await st.post(`/api/scheduling/appointments/${held.json.appointment.id}/cancel`)).status, 200);
  const qq = (sql) => q(d2, sql);
  const tokenOf = (id) => {
    const r = qq(`SELECT data FROM outbox WHERE kind = 'waitlist_offer' AND ref = 'waitlist:${id}'`);
    return r ? JSON.parse(r).token : null;
  };
  const ta = tokenOf(wa.id);
  assert.ok(ta, 'the first entry got the offer');
  assert.equal(tokenOf(wb.id), null, 'one at a time');
  qq(`UPDATE scheduling_offers SET expires_at = ${Math.floor(Date.now() / 1000) - 1} WHERE waitlist_id = ${wa.id}`);
  let tb = null;
  for (let i = 0; i < 40 && !tb; i++) {
    await new Promise((r) => setTimeout(r, 100));
    tb = tokenOf(wb.id);
  }
  assert.ok(tb, 'the next entry got the offer after the first expired');
  assert.equal(qq(`SELECT status FROM scheduling_offers WHERE waitlist_id = ${wa.id}`), 'expired');
  const late = await a.post(`/api/scheduling/offers/${ta}/accept`);
  assert.equal(late.status, 410);
  const ok = await b.post(`/api/scheduling/offers/${tb}/accept`);
  assert.equal(ok.status, 201, ok.body);
  assert.equal(ok.json.appointment.start, s.start);
});

test('the daemon logged no errors and left no transaction open', () => {
  const bad = d.stderr.split('\n').filter((l) => /level=error|left open|wrote no response/.test(l));
  assert.deepEqual(bad, []);
});
