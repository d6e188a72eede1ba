// Integration tests of the scheduling plugin's everyday flows against a real
// atriumd (practice zone America/New_York): set-up listings, slot search,
// booking and its bad input, reminders at lead times and their single-use
// links, cancel and reschedule with the cutoff, approval, visit statuses,
// the schedule view, blocks, set-up CRUD and metrics.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const { startDaemon, loginAs, request } = require('./lib');

const TZ = 'America/New_York';
const FOLLOW_UP = 2; // demo type ids, in seeding order
const NEW_PATIENT = 1;
const PHYSICAL = 3;
const TELEHEALTH = 4;

// ---- dates in the practice zone
const localDate = (d = new Date()) => new Intl.DateTimeFormat('en-CA',
  { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
const localTime = (iso) => new Intl.DateTimeFormat('en-GB',
  { timeZone: TZ, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(iso));
const addDays = (iso, n) => {
  const d = new Date(iso + 'T12:00:00Z');
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
};
const weekday = (iso) => new Date(iso + 'T12:00:00Z').getUTCDay();
function nextWeekday(minDays) {
  let d = addDays(localDate(), minDays);
  while (weekday(d) === 0 || weekday(d) === 6) d = addDays(d, 1);
  return d;
}
const epoch = (iso) => Math.floor(Date.parse(iso) / 1000);
// sqlite3 with a busy timeout: the daemon's threads write too.
function q(dd, sql) {
  const r = spawnSync('sqlite3', ['-cmd', '.timeout 5000', dd.dbPath, sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('sqlite3: ' + r.stderr);
  return r.stdout.trim();
}

let d, pat, pat2, staff, doc, doc2, P1, P2;
let D; // a weekday at least 5 days ahead
let D2; // another, for the metrics

async function slots(c, type, provider, from, to = from) {
  const r = await c.get(`/api/scheduling/slots?type=${type}&provider=${provider}&from=${from}&to=${to}`);
  assert.equal(r.status, 200, r.body);
  return r.json.slots;
}

async function book(c, type, provider, start, extra = {}) {
  return c.post('/api/scheduling/appointments', { type_id: type, provider_id: provider, start, ...extra });
}

before(async () => {
  d = await startDaemon({
    config: {
      plugins: { scheduling: 'on' },
      practice: { timezone: TZ },
      'plugin.scheduling': { cutoff_hours: 24 },
    },
  });
  [pat, pat2, staff, doc, doc2] = await Promise.all(['patient.demo', 'patient2.demo', 'staff.demo',
    'physician.demo', 'physician2.demo'].map((u) => loginAs(d, u)));
  P1 = doc.user.id;
  P2 = doc2.user.id;
  D = nextWeekday(5);
  D2 = nextWeekday(9);
});
after(() => d && d.stop());

test('providers and types list the demo practice', async () => {
  const p = await pat.get('/api/scheduling/providers');
  assert.equal(p.status, 200);
  assert.deepEqual(p.json.providers.map((x) => x.id).sort(), [P1, P2].sort());
  assert.deepEqual(p.json.providers.find((x) => x.id === P1).type_ids, [1, 2, 3, 4]);
  const t = await pat.get('/api/scheduling/types');
  const byName = Object.fromEntries(t.json.types.map((x) => [x.name, x]));
  assert.equal(byName['New patient visit'].duration_minutes, 40);
  assert.equal(byName['New patient visit'].needs_approval, true);
  assert.equal(byName['New patient visit'].new_patient, true);
  assert.equal(byName['Telehealth check-in'].duration_minutes, 15);
  assert.equal(byName['Follow-up visit'].self_bookable, true);
  const anon = await request(d, 'GET', '/api/scheduling/types');
  assert.equal(anon.status, 401);
});

test('slots follow the weekly hours in the practice zone, on the 15-minute grid', async () => {
  const s15 = await slots(pat, TELEHEALTH, P1, D);
  assert.equal(s15.length, 28); // 3 h + 4 h of 15-minute visits
  const s20 = await slots(pat, FOLLOW_UP, P1, D);
  assert.equal(s20.length, 11 + 15); // 09:00..11:30 and 13:00..16:30
  assert.equal(localTime(s20[0].start), '09:00');
  assert.equal(localTime(s20[10].start), '11:30');
  assert.equal(localTime(s20[11].start), '13:00');
  for (const s of s20) {
    assert.match(s.start, /^\d{4}-\d\d-\d\dT\d\d:(00|15|30|45):00Z$/);
    assert.equal(epoch(s.end) - epoch(s.start), 1200);
    assert.equal(s.provider_id, P1);
    assert.equal(s.type_id, FOLLOW_UP);
  }
  let sat = D;
  while (weekday(sat) !== 6) sat = addDays(sat, 1);
  assert.equal((await slots(pat, TELEHEALTH, P1, sat, addDays(sat, 1))).length, 0);
  const both = await pat.get(`/api/scheduling/slots?type=${TELEHEALTH}&from=${D}&to=${D}`);
  assert.equal(both.json.slots.length, 56);
  // merged by time; at the same time, by provider id
  const key = (s) => [s.start, s.provider_id];
  assert.ok(both.json.slots.every((s, i, a) => i === 0 ||
    a[i - 1].start < s.start || (a[i - 1].start === s.start && a[i - 1].provider_id < s.provider_id)));
  assert.deepEqual(new Set(both.json.slots.map((s) => s.provider_id)), new Set([P1, P2]));
  assert.equal(both.json.truncated, false);
  // a limit across providers answers the earliest of them all
  const first = await pat.get(`/api/scheduling/slots?type=${TELEHEALTH}&from=${D}&to=${addDays(D, 3)}&limit=7`);
  const all = await pat.get(`/api/scheduling/slots?type=${TELEHEALTH}&from=${D}&to=${addDays(D, 3)}`);
  assert.equal(first.json.truncated, true);
  assert.deepEqual(first.json.slots.map(key), all.json.slots.slice(0, 7).map(key));
  assert.ok(all.json.slots.length > 56);
});

test('slot search rejects bad parameters', async () => {
  const bad = async (qs, status) => {
    const r = await pat.get('/api/scheduling/slots?' + qs);
    assert.equal(r.status, status, qs + ' ' + r.body);
    return r;
  };
  await bad('from=' + D, 400);
  await bad(`type=${TELEHEALTH}&from=2026-13-01`, 400);
  await bad(`type=${TELEHEALTH}&from=${D}&to=${addDays(D, -1)}`, 400);
  await bad(`type=${TELEHEALTH}&from=${D}&to=${addDays(D, 70)}`, 400);
  await bad(`type=abc`, 400);
  await bad(`type=999`, 404);
  await bad(`type=${TELEHEALTH}&limit=0`, 400);
  const r = await bad(`type=${TELEHEALTH}&provider=${P1}&from=${D}&limit=3`, 200);
  assert.equal(r.json.slots.length, 3);
  assert.equal(r.json.truncated, true);
});

test('a patient books a slot once; the second attempt gets 409 and the slot is gone', async () => {
  const [s] = await slots(pat, TELEHEALTH, P1, D);
  const r = await book(pat, TELEHEALTH, P1, s.start);
  assert.equal(r.status, 201, r.body);
  const a = r.json.appointment;
  assert.equal(a.status, 'booked');
  assert.equal(a.self_booked, true);
  assert.equal(a.start, s.start);
  assert.equal(a.end, s.end);
  assert.equal(a.patient_id, pat.user.id);
  assert.equal((await book(pat2, TELEHEALTH, P1, s.start)).status, 409);
  assert.ok(!(await slots(pat, TELEHEALTH, P1, D)).some((x) => x.start === s.start));
  assert.equal(q(d, `SELECT COUNT(*) FROM scheduling_slot_claims WHERE appointment_id = ${a.id}`), '3');
  const g = await pat.get('/api/scheduling/appointments/' + a.id);
  assert.equal(g.status, 200);
  assert.equal(g.json.appointment.type_name, 'Telehealth check-in');
  // the audit log has the PHI read with the patient
  assert.ok(Number(q(d, `SELECT COUNT(*) FROM audit_log WHERE action = 'GET /api/scheduling/appointments/:id' AND patient_id = ${pat.user.id}`)) >= 1);
});

test('bad bookings get clear 4xx answers and change nothing', async () => {
  const count = () => q(d, 'SELECT COUNT(*) FROM scheduling_appointments') + '/' +
    q(d, 'SELECT COUNT(*) FROM scheduling_slot_claims');
  const beforeCount = count();
  const s = await slots(pat, TELEHEALTH, P1, D);
  const free = s[s.length - 1].start;
  const expect = async (c, body, status, code) => {
    const r = await c.post('/api/scheduling/appointments', body);
    assert.equal(r.status, status, JSON.stringify(body) + ' ' + r.body);
    if (code) assert.equal(r.json.error.code, code);
    assert.match(r.json.error.message, /^[a-z]/);
    return r;
  };
  const base = { type_id: TELEHEALTH, provider_id: P1 };
  await expect(pat, { ...base, start: '2020-01-06T14:00:00Z' }, 422, 'in_past');
  const early = new Date(epoch(s[0].start) * 1000 - 2 * 3600e3).toISOString().replace('.000', '');
  await expect(pat, { ...base, start: early }, 422, 'outside_availability');
  const offGrid = new Date((epoch(s[0].start) + 300) * 1000).toISOString().replace('.000', '');
  await expect(pat, { ...base, start: offGrid }, 422, 'outside_availability');
  await expect(pat, { ...base, start: D + ' 14:00' }, 400, 'bad_time');
  await expect(pat, { ...base, start: D + 'T14:00:00' }, 400, 'bad_time');
  await expect(pat, { ...base, start: D + 'T14:00:00+25:00' }, 400, 'bad_time');
  await expect(pat, { ...base, start: D + 'T14:00:00 EST' }, 400, 'bad_time');
  await expect(pat, { ...base, start: addDays(localDate(), 200) + 'T14:00:00Z' }, 422, 'too_far_ahead');
  await expect(pat, { ...base, start: free, patient_id: pat2.user.id }, 403, 'forbidden');
  await expect(pat, { ...base, start: free, extra: 1 }, 400);
  await expect(pat, { type_id: 999, provider_id: P1, start: free }, 422, 'unknown_type');
  await expect(pat, { ...base, provider_id: 999, start: free }, 422, 'type_not_offered');
  await expect(staff, { ...base, start: free }, 400); // staff must name the patient
  await expect(staff, { ...base, start: free, patient_id: doc.user.id }, 404); // not a patient
  // a type only physician2 offers
  const t = await staff.post('/api/scheduling/types', {
    name: 'Allergy review', duration_minutes: 30, self_bookable: true, provider_ids: [P2],
  });
  assert.equal(t.status, 201, t.body);
  await expect(pat, { type_id: t.json.type.id, provider_id: P1, start: free }, 422, 'type_not_offered');
  // a type patients may not book online
  const phone = await staff.post('/api/scheduling/types', {
    name: 'Procedure', duration_minutes: 60, self_bookable: false, provider_ids: [P1],
  });
  await expect(pat, { type_id: phone.json.type.id, provider_id: P1, start: free }, 403, 'not_self_bookable');
  // overlapping a block
  const blockStart = s[s.length - 4].start;
  const b = await doc.post('/api/scheduling/blocks', {
    provider_id: P1, start: blockStart, end: s[s.length - 1].end, reason: 'meeting',
  });
  assert.equal(b.status, 201, b.body);
  await expect(pat, { ...base, start: free }, 422, 'blocked');
  assert.ok(!(await slots(pat, TELEHEALTH, P1, D)).some((x) => x.start >= blockStart));
  assert.equal(count(), beforeCount);
  assert.equal((await doc.del('/api/scheduling/blocks/' + b.json.block.id)).status, 204);
  assert.ok((await slots(pat, TELEHEALTH, P1, D)).some((x) => x.start === free));
});

test('a start with a zone offset is the same instant, answered in UTC', async () => {
  const s = (await slots(pat, TELEHEALTH, P2, D))[5];
  const wall = new Intl.DateTimeFormat('sv-SE', { timeZone: TZ, dateStyle: 'short', timeStyle: 'medium' })
    .format(new Date(s.start)).replace(' ', 'T'); // practice wall time
  const offMin = Math.round((Date.parse(wall + 'Z') - Date.parse(s.start)) / 60000);
  const sign = offMin < 0 ? '-' : '+';
  const hh = String(Math.floor(Math.abs(offMin) / 60)).padStart(2, '0');
  const mm = String(Math.abs(offMin) % 60).padStart(2, '0');
  const r = await book(pat2, TELEHEALTH, P2, `${wall}${sign}${hh}:${mm}`);
  assert.equal(r.status, 201, r.body);
  assert.equal(r.json.appointment.start, s.start);
});

test('reminders are queued at 72 h, 24 h and 2 h, and move with a reschedule', async () => {
  const s = await slots(pat, PHYSICAL, P2, D);
  const r = await book(pat, PHYSICAL, P2, s[0].start);
  assert.equal(r.status, 201, r.body);
  const id = r.json.appointment.id;
  const start = epoch(s[0].start);
  const rows = () => q(d, `SELECT kind, not_before, status FROM outbox WHERE ref = 'appointment:${id}' AND kind = 'appointment_reminder' ORDER BY id`)
    .split('\n').filter(Boolean).map((l) => l.split('|'));
  let rem = rows();
  assert.deepEqual(rem.map((x) => Number(x[1])), [start - 72 * 3600, start - 24 * 3600, start - 2 * 3600]);
  assert.ok(rem.every((x) => x[2] === 'queued'));
  const data = JSON.parse(q(d, `SELECT data FROM outbox WHERE ref = 'appointment:${id}' AND kind = 'appointment_reminder' LIMIT 1`));
  assert.equal(data.appointment_id, id);
  assert.match(data.token, /^[A-Za-z0-9_-]{40,}$/);
  assert.equal(data.link, '/#/p/scheduling/reminder?token=' + data.token);
  // only the hash of a token is stored
  assert.equal(q(d, `SELECT COUNT(*) FROM scheduling_reminder_tokens WHERE token_hash = '${data.token}'`), '0');
  assert.equal(q(d, `SELECT COUNT(*) FROM scheduling_reminder_tokens WHERE appointment_id = ${id}`), '3');
  // a booking notice went out at once
  assert.equal(q(d, `SELECT COUNT(*) FROM outbox WHERE ref = 'appointment:${id}' AND kind = 'appointment_confirmation'`), '1');
  // reschedule: old reminders cancelled, new ones at the new time
  const to = s.find((x) => x.start >= s[0].end).start;
  const m = await pat.post(`/api/scheduling/appointments/${id}/reschedule`, { start: to });
  assert.equal(m.status, 200, m.body);
  assert.equal(m.json.appointment.start, to);
  assert.equal(m.json.appointment.reschedule_count, 1);
  rem = rows();
  assert.equal(rem.length, 6);
  assert.ok(rem.slice(0, 3).every((x) => x[2] === 'cancelled'));
  assert.deepEqual(rem.slice(3).map((x) => Number(x[1])),
    [epoch(to) - 72 * 3600, epoch(to) - 24 * 3600, epoch(to) - 2 * 3600]);
  // the old token no longer works
  const old = await request(d, 'POST', `/api/scheduling/reminders/${data.token}/confirm`);
  assert.equal(old.status, 410);
  // the old slot is free again, the new one taken
  const after1 = await slots(pat, PHYSICAL, P2, D);
  assert.ok(after1.some((x) => x.start === s[0].start));
  assert.ok(!after1.some((x) => x.start === to));
  // cancel: every queued reminder is cancelled
  const c = await pat.post(`/api/scheduling/appointments/${id}/cancel`, { reason: 'feeling better' });
  assert.equal(c.status, 200, c.body);
  assert.equal(c.json.appointment.status, 'cancelled');
  assert.equal(c.json.appointment.cancel_reason, 'feeling better');
  assert.ok(rows().every((x) => x[2] === 'cancelled'));
  assert.equal(q(d, `SELECT COUNT(*) FROM scheduling_slot_claims WHERE appointment_id = ${id}`), '0');
  assert.equal((await pat.post(`/api/scheduling/appointments/${id}/cancel`)).status, 409);
});

test('no reminder is queued for a lead time already past', async () => {
  // Any slot less than 72 h ahead has its 72 h reminder in the past; which
  // of the 24 h and 2 h ones remain depends on when the suite runs (a
  // weekend gap is under 72 h, so such a slot always exists).
  const now = Date.now() / 1000;
  const cands = await slots(pat, TELEHEALTH, P2, localDate(), addDays(localDate(), 4));
  const s = cands.find((x) => epoch(x.start) - now > 600 && epoch(x.start) - now < 72 * 3600 - 600);
  assert.ok(s, 'a slot less than 72 hours ahead');
  const r = await book(pat2, TELEHEALTH, P2, s.start);
  assert.equal(r.status, 201, r.body);
  const got = q(d, `SELECT not_before FROM outbox WHERE ref = 'appointment:${r.json.appointment.id}' AND kind = 'appointment_reminder' ORDER BY not_before`);
  const leads = got ? got.split('\n').map(Number) : [];
  const booked = Date.now() / 1000;
  const want = [72, 24, 2].map((h) => epoch(s.start) - h * 3600).filter((t) => t > booked);
  // a lead exactly at the booking second may go either way
  assert.ok(!leads.includes(epoch(s.start) - 72 * 3600), 'the 72 h reminder is in the past');
  assert.deepEqual(leads.filter((t) => t > booked + 2), want.filter((t) => t > booked + 2));
  for (const t of leads) assert.ok(t >= now - 1, 'no reminder dated in the past');
});

test('a reminder link confirms once, a second link cancels, and used links are refused', async () => {
  const s = await slots(pat, TELEHEALTH, P1, D2);
  const r = await book(pat, TELEHEALTH, P1, s[2].start);
  const id = r.json.appointment.id;
  const tokens = q(d, `SELECT data FROM outbox WHERE ref = 'appointment:${id}' AND kind = 'appointment_reminder' ORDER BY id`)
    .split('\n').map((l) => JSON.parse(l).token);
  assert.equal(tokens.length, 3);
  const info = await request(d, 'GET', `/api/scheduling/reminders/${tokens[0]}`);
  assert.equal(info.status, 200);
  assert.equal(info.json.usable, true);
  assert.equal(info.json.appointment.patient_name, undefined);
  const c1 = await request(d, 'POST', `/api/scheduling/reminders/${tokens[0]}/confirm`);
  assert.equal(c1.status, 200, c1.body);
  assert.equal(c1.json.appointment.confirmed, true);
  assert.equal((await request(d, 'POST', `/api/scheduling/reminders/${tokens[0]}/confirm`)).status, 410);
  assert.equal((await request(d, 'POST', `/api/scheduling/reminders/${tokens[0]}/cancel`)).status, 410);
  assert.equal((await pat.get('/api/scheduling/appointments/' + id)).json.appointment.confirmed, true);
  const c2 = await request(d, 'POST', `/api/scheduling/reminders/${tokens[1]}/cancel`);
  assert.equal(c2.status, 200, c2.body);
  assert.equal(c2.json.appointment.status, 'cancelled');
  assert.equal((await request(d, 'POST', `/api/scheduling/reminders/${tokens[2]}/confirm`)).status, 410);
  assert.equal((await request(d, 'POST', '/api/scheduling/reminders/not-a-real-token-at-all-zzzz/confirm')).status, 404);
  // the token never reaches the audit log
  for (const t of tokens) assert.equal(q(d, `SELECT COUNT(*) FROM audit_log WHERE object_id LIKE '%${t}%'`), '0');
  assert.ok(Number(q(d, `SELECT COUNT(*) FROM audit_log WHERE action = 'POST /api/scheduling/reminders/:token/cancel' AND patient_id = ${pat.user.id} AND outcome = 'ok'`)) >= 1);
});

test('patients cannot cancel or move a visit inside the cutoff; staff can', async () => {
  const s = await slots(pat, TELEHEALTH, P1, D2);
  const r = await book(pat, TELEHEALTH, P1, s[6].start);
  const id = r.json.appointment.id;
  const soon = Math.floor(Date.now() / 1000) + 3 * 3600;
  q(d, `UPDATE scheduling_appointments SET start_utc = ${soon}, end_utc = ${soon + 900} WHERE id = ${id}`);
  const c = await pat.post(`/api/scheduling/appointments/${id}/cancel`);
  assert.equal(c.status, 422);
  assert.equal(c.json.error.code, 'cutoff');
  assert.match(c.json.error.message, /24 hours/);
  const m = await pat.post(`/api/scheduling/appointments/${id}/reschedule`, { start: s[8].start });
  assert.equal(m.status, 422);
  assert.equal(q(d, `SELECT status FROM scheduling_appointments WHERE id = ${id}`), 'booked');
  const sc = await staff.post(`/api/scheduling/appointments/${id}/cancel`, { reason: 'doctor ill' });
  assert.equal(sc.status, 200, sc.body);
});

test('reschedule to a taken slot changes nothing', async () => {
  const s = await slots(pat, TELEHEALTH, P1, D2);
  const a = (await book(pat, TELEHEALTH, P1, s[10].start)).json.appointment;
  const b = (await book(pat2, TELEHEALTH, P1, s[11].start)).json.appointment;
  const claims = () => q(d, `SELECT group_concat(slot_utc) FROM scheduling_slot_claims WHERE appointment_id = ${a.id}`);
  const before1 = claims();
  const r = await pat.post(`/api/scheduling/appointments/${a.id}/reschedule`, { start: b.start });
  assert.equal(r.status, 409);
  assert.equal(claims(), before1);
  assert.equal((await pat.get('/api/scheduling/appointments/' + a.id)).json.appointment.start, a.start);
  const bad = await pat.post(`/api/scheduling/appointments/${a.id}/reschedule`, { start: 'tomorrow' });
  assert.equal(bad.status, 400);
  const same = await pat.post(`/api/scheduling/appointments/${a.id}/reschedule`, { start: a.start });
  assert.equal(same.status, 422);
});

test('requests need approval: staff approve or decline; patients cannot', async () => {
  const s = await slots(pat, NEW_PATIENT, P1, D2);
  const r = await book(pat2, NEW_PATIENT, P1, s[s.length - 1].start);
  assert.equal(r.status, 201, r.body);
  const a = r.json.appointment;
  assert.equal(a.status, 'pending');
  // a pending request holds its slot and has no reminders yet
  assert.ok(!(await slots(pat, NEW_PATIENT, P1, D2)).some((x) => x.start === a.start));
  assert.equal(q(d, `SELECT COUNT(*) FROM outbox WHERE ref = 'appointment:${a.id}' AND kind = 'appointment_reminder'`), '0');
  assert.equal((await pat2.post(`/api/scheduling/appointments/${a.id}/approve`)).status, 403);
  const ok = await staff.post(`/api/scheduling/appointments/${a.id}/approve`);
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.json.appointment.status, 'booked');
  assert.equal(q(d, `SELECT COUNT(*) FROM outbox WHERE ref = 'appointment:${a.id}' AND kind = 'appointment_reminder' AND status = 'queued'`), '3');
  assert.equal((await staff.post(`/api/scheduling/appointments/${a.id}/approve`)).status, 409);
  const r2 = await book(pat2, NEW_PATIENT, P1, s[0].start);
  const no = await doc.post(`/api/scheduling/appointments/${r2.json.appointment.id}/decline`, { reason: 'please call us first' });
  assert.equal(no.status, 200, no.body);
  assert.equal(no.json.appointment.status, 'cancelled');
  assert.equal(no.json.appointment.cancel_reason, 'declined: please call us first');
  assert.ok((await slots(pat, NEW_PATIENT, P1, D2)).some((x) => x.start === s[0].start));
  assert.equal((await doc.post(`/api/scheduling/appointments/${a.id}/decline`)).status, 409);
});

test('visit statuses follow the allowed transitions and free the slot when done', async () => {
  const s = await slots(pat, TELEHEALTH, P2, D2);
  const a = (await book(pat, TELEHEALTH, P2, s[0].start)).json.appointment;
  const b = (await book(pat2, TELEHEALTH, P2, s[1].start)).json.appointment;
  const set = (c, id, status) => c.post(`/api/scheduling/appointments/${id}/status`, { status });
  // in the future: not yet arrived, not a no-show
  assert.equal((await set(staff, a.id, 'arrived')).status, 409);
  assert.equal((await set(staff, a.id, 'noshow')).status, 409);
  assert.equal((await set(staff, a.id, 'proposed')).status, 400);
  assert.equal((await set(pat, a.id, 'arrived')).status, 403);
  assert.equal((await set(pat, a.id, 'noshow')).status, 403);
  // move both to now (this month), as if the visits were under way
  const now = Math.floor(Date.now() / 1000) - 300;
  const today = localDate();
  for (const [id, t] of [[a.id, now], [b.id, now - 900]]) {
    q(d, `UPDATE scheduling_appointments SET start_utc = ${t}, end_utc = ${t + 900}, local_date = '${today}' WHERE id = ${id}`);
  }
  for (const st of ['arrived', 'checked-in', 'fulfilled']) {
    const r = await set(doc2, a.id, st);
    assert.equal(r.status, 200, st + ' ' + r.body);
    assert.equal(r.json.appointment.status, st);
  }
  assert.equal(q(d, `SELECT COUNT(*) FROM scheduling_slot_claims WHERE appointment_id = ${a.id}`), '0');
  assert.equal((await set(staff, a.id, 'noshow')).status, 409);
  const ns = await set(staff, b.id, 'noshow');
  assert.equal(ns.status, 200, ns.body);
  assert.equal((await set(staff, b.id, 'fulfilled')).status, 409);
  const err = await set(staff, b.id, 'entered-in-error');
  assert.equal(err.status, 200);
  assert.equal((await set(staff, b.id, 'entered-in-error')).status, 409);
  q(d, `UPDATE scheduling_appointments SET status = 'noshow' WHERE id = ${b.id}`);
  const m = await staff.get(`/api/scheduling/metrics?from=${today}&to=${today}&provider=${P2}`);
  assert.equal(m.status, 200, m.body);
  const row = m.json.noshow_rate.find((x) => x.provider_id === P2 && x.month === today.slice(0, 7));
  assert.deepEqual([row.visits, row.noshows, row.rate], [2, 1, 0.5]);
});

test('the schedule shows each provider\'s day with hours, blocks and patients', async () => {
  const r = await staff.get(`/api/scheduling/schedule?provider=${P1}&date=${D}`);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.providers.length, 1);
  const day = r.json.providers[0].days[0];
  assert.equal(day.date, D);
  assert.deepEqual(day.windows.map((w) => localTime(w.start) + '-' + localTime(w.end)), ['09:00-12:00', '13:00-17:00']);
  assert.ok(day.appointments.length >= 1);
  assert.ok(day.appointments.every((a) => a.patient_name && a.provider_id === P1));
  const week = await doc.get(`/api/scheduling/schedule?date=${D}&days=7`);
  assert.equal(week.status, 200);
  assert.equal(week.json.providers.length, 1, 'a physician sees their own by default');
  assert.equal(week.json.providers[0].id, P1);
  assert.equal(week.json.providers[0].days.length, 7);
  const all = await staff.get(`/api/scheduling/schedule?date=${D}`);
  assert.equal(all.json.providers.length, 2);
  assert.equal((await staff.get('/api/scheduling/schedule?date=12/01/2026')).status, 400);
  assert.equal((await staff.get('/api/scheduling/schedule?days=15')).status, 400);
  assert.equal((await staff.get('/api/scheduling/schedule?provider=999')).status, 404);
  assert.equal((await pat.get('/api/scheduling/schedule')).status, 403);
});

test('blocks: physicians block their own time, staff the whole practice', async () => {
  const day = nextWeekday(12);
  const s = await slots(pat, TELEHEALTH, P1, day);
  const a = (await book(pat, TELEHEALTH, P1, s[1].start)).json.appointment;
  assert.equal((await doc.post('/api/scheduling/blocks', { provider_id: P2, start: s[0].start, end: s[3].end })).status, 403);
  assert.equal((await doc.post('/api/scheduling/blocks', { start: s[0].start, end: s[3].end })).status, 403);
  assert.equal((await doc.post('/api/scheduling/blocks', { provider_id: P1, start: s[3].end, end: s[0].start })).status, 422);
  const b = await staff.post('/api/scheduling/blocks', { start: s[0].start, end: s[3].end, reason: 'staff training' });
  assert.equal(b.status, 201, b.body);
  assert.equal(b.json.block.provider_id, null);
  assert.deepEqual(b.json.conflicts.map((x) => x.id), [a.id]);
  const after1 = await slots(pat, TELEHEALTH, P2, day);
  assert.ok(!after1.some((x) => x.start < s[3].end && x.end > s[0].start), 'practice-wide block applies to everyone');
  const list = await staff.get(`/api/scheduling/blocks?provider=${P2}&from=${s[0].start}`);
  assert.ok(list.json.blocks.some((x) => x.id === b.json.block.id));
  assert.equal((await doc.del('/api/scheduling/blocks/' + b.json.block.id)).status, 403);
  assert.equal((await staff.del('/api/scheduling/blocks/' + b.json.block.id)).status, 204);
});

test('set-up: types and weekly availability are managed by staff and admins', async () => {
  const admin = await loginAs(d, 'admin.demo');
  const t = await admin.post('/api/scheduling/types', { name: 'Vaccination', duration_minutes: 10, self_bookable: true, provider_ids: [P1, P2] });
  assert.equal(t.status, 201, t.body);
  assert.deepEqual(t.json.type.provider_ids.sort(), [P1, P2].sort());
  assert.equal((await admin.post('/api/scheduling/types', { name: 'Vaccination', duration_minutes: 10 })).status, 409);
  assert.equal((await staff.post('/api/scheduling/types', { name: 'Odd', duration_minutes: 7 })).status, 422);
  assert.equal((await pat.post('/api/scheduling/types', { name: 'Mine', duration_minutes: 10 })).status, 403);
  const u = await staff.put('/api/scheduling/types/' + t.json.type.id, { duration_minutes: 15, provider_ids: [P2] });
  assert.equal(u.status, 200, u.body);
  assert.equal(u.json.type.duration_minutes, 15);
  assert.deepEqual(u.json.type.provider_ids, [P2]);
  assert.equal((await staff.del('/api/scheduling/types/' + t.json.type.id)).json.type.active, false);
  assert.ok(!(await pat.get('/api/scheduling/types')).json.types.some((x) => x.id === t.json.type.id));
  assert.ok((await staff.get('/api/scheduling/types?all=1')).json.types.some((x) => x.id === t.json.type.id));
  // availability: Saturday mornings for physician2
  let sat = D;
  while (weekday(sat) !== 6) sat = addDays(sat, 1);
  const a = await staff.post('/api/scheduling/availability', { provider_id: P2, weekday: 6, start: '08:00', end: '10:00' });
  assert.equal(a.status, 201, a.body);
  assert.equal(a.json.template.location, 'Main clinic');
  assert.equal((await slots(pat, TELEHEALTH, P2, sat)).length, 8);
  assert.equal((await staff.post('/api/scheduling/availability', { provider_id: P2, weekday: 6, start: '09:30', end: '11:00' })).status, 409);
  assert.equal((await staff.post('/api/scheduling/availability', { provider_id: P2, weekday: 8, start: '09:30', end: '11:00' })).status, 422);
  assert.equal((await staff.post('/api/scheduling/availability', { provider_id: P2, weekday: 6, start: '11:00', end: '10:00' })).status, 422);
  assert.equal((await staff.post('/api/scheduling/availability', { provider_id: P2, weekday: 6, start: '9:30', end: '11:00' })).status, 422);
  const later = await staff.post('/api/scheduling/availability', {
    provider_id: P2, weekday: 6, start: '09:30', end: '11:00', valid_from: addDays(sat, 7),
  });
  assert.equal(later.status, 409, 'open-ended ranges overlap');
  const p = await staff.put('/api/scheduling/availability/' + a.json.template.id, { end: '09:00', valid_until: addDays(sat, 1) });
  assert.equal(p.status, 200, p.body);
  assert.equal((await slots(pat, TELEHEALTH, P2, sat)).length, 4);
  assert.equal((await slots(pat, TELEHEALTH, P2, addDays(sat, 7))).length, 0);
  const list = await doc.get(`/api/scheduling/availability?provider=${P2}`);
  assert.equal(list.json.templates.filter((x) => x.weekday === 6).length, 1);
  assert.equal((await pat.get('/api/scheduling/availability')).status, 403);
  assert.equal((await staff.del('/api/scheduling/availability/' + a.json.template.id)).status, 204);
  assert.equal((await slots(pat, TELEHEALTH, P2, sat)).length, 0);
  // a patient's own physician
  const pp = await staff.put(`/api/scheduling/patients/${pat2.user.id}/provider`, { provider_id: P1 });
  assert.equal(pp.status, 200, pp.body);
  assert.equal((await pat2.get(`/api/scheduling/patients/${pat2.user.id}/provider`)).json.provider_id, P1);
  assert.equal((await pat.get(`/api/scheduling/patients/${pat2.user.id}/provider`)).status, 404);
  assert.equal((await staff.put(`/api/scheduling/patients/${pat2.user.id}/provider`, { provider_id: P2 })).status, 200);
});

test('metrics: self-booked share, fill rate and offers over a date range', async () => {
  const day = nextWeekday(15);
  const s = await slots(pat, PHYSICAL, P1, day);
  assert.equal((await book(pat, PHYSICAL, P1, s[0].start)).status, 201);
  assert.equal((await book(staff, PHYSICAL, P1, s[6].start, { patient_id: pat2.user.id })).status, 201);
  const m = await staff.get(`/api/scheduling/metrics?from=${day}&to=${day}&provider=${P1}`);
  assert.equal(m.status, 200, m.body);
  assert.deepEqual(m.json.self_booked, { total: 2, self_booked: 1, share: 0.5 });
  const f = m.json.fill_rate.by_provider[0];
  assert.equal(f.provider_id, P1);
  assert.equal(f.available_minutes, 420);
  assert.equal(f.booked_minutes, 80);
  assert.equal(m.json.waitlist.offers_sent, 0);
  assert.equal((await staff.get('/api/scheduling/metrics?from=2026-02-30')).status, 400);
  assert.equal((await pat.get('/api/scheduling/metrics')).status, 403);
  const dflt = await doc.get('/api/scheduling/metrics');
  assert.equal(dflt.status, 200);
  assert.equal(dflt.json.to, localDate());
});

test('the daemon logged no errors and left no transaction open', () => {
  const bad = d.stderr.split('\n').filter((l) => /level=error|left open|wrote no response/.test(l));
  assert.deepEqual(bad, []);
});
