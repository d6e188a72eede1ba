// Integration tests of the scheduling plugin with the practice rules it
// ships (config/workflows/scheduling_*.lua, loaded as shipped), a custom
// deny rule, patient-against-patient access (IDOR), and slots in the weeks
// the clocks change in America/New_York and Europe/London.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { startDaemon, loginAs, ROOT } = require('./lib');

const NEW_PATIENT = 1;
const FOLLOW_UP = 2;
const TELEHEALTH = 4;

const dateIn = (tz, d = new Date()) => new Intl.DateTimeFormat('en-CA',
  { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
const hourIn = (tz, d = new Date()) => Number(new Intl.DateTimeFormat('en-GB',
  { timeZone: tz, hour: '2-digit', hourCycle: 'h23' }).format(d));
const addDays = (iso, n) => {
  const x = new Date(iso + 'T12:00:00Z');
  x.setUTCDate(x.getUTCDate() + n);
  return x.toISOString().slice(0, 10);
};
const weekday = (iso) => new Date(iso + 'T12:00:00Z').getUTCDay();
const epoch = (iso) => Math.floor(Date.parse(iso) / 1000);
function q(dd, sql) {
  const r = spawnSync('sqlite3', ['-cmd', '.timeout 5000', dd.dbPath, sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('sqlite3: ' + r.stderr);
  return r.stdout.trim();
}
async function slots(c, type, provider, from, to = from) {
  const r = await c.get(`/api/scheduling/slots?type=${type}&provider=${provider}&from=${from}&to=${to}`);
  assert.equal(r.status, 200, r.body);
  return r.json.slots;
}

// A zone where it is now between 08:00 and 15:59, so "today" has hours
// left whatever time the suite runs.
const ZONES = ['Pacific/Kiritimati', 'Pacific/Auckland', 'Asia/Tokyo', 'Asia/Kolkata', 'Europe/London',
  'America/New_York', 'America/Los_Angeles', 'Pacific/Honolulu', 'Pacific/Pago_Pago', 'Asia/Dubai',
  'Europe/Moscow', 'America/Sao_Paulo'];
const TZ = ZONES.find((z) => hourIn(z) >= 8 && hourIn(z) < 16);

const shipped = {};
for (const f of fs.readdirSync(path.join(ROOT, 'config', 'workflows'))) {
  if (/^scheduling_.*\.lua$/.test(f)) shipped[f] = fs.readFileSync(path.join(ROOT, 'config', 'workflows', f), 'utf8');
}

let d, pat, pat2, staff, P1, P2;

before(async () => {
  assert.ok(TZ, 'a zone in working hours');
  assert.equal(Object.keys(shipped).length, 3);
  d = await startDaemon({
    config: { plugins: { scheduling: 'on' }, practice: { timezone: TZ } },
    workflows: {
      ...shipped,
      'zz_test_lookup.lua': `
        atrium.on("appointment.after_book", function(ev)
          if ev.type_name == "Telehealth check-in" then
            local s = atrium.lookup("scheduling.patient_summary", {patient_id = ev.patient_id})
            atrium.notify{user_id = ev.patient_id, kind = "test_summary", ref = "summary",
              data = {upcoming = s.upcoming, primary = s.primary_provider_id, leads = ev.reminder_leads}}
          end
        end)`,
      'zz_test_cancel.lua': `
        atrium.on("appointment.before_cancel", function(ev)
          if ev.reason == "test-deny" then return "cancellation blocked by a test rule" end
        end)`,
    },
  });
  [pat, pat2, staff] = await Promise.all(['patient.demo', 'patient2.demo', 'staff.demo'].map((u) => loginAs(d, u)));
  const prov = (await staff.get('/api/scheduling/providers')).json.providers;
  P1 = prov.find((p) => p.display_name === 'Dr. Priya Patel').id;
  P2 = prov.find((p) => p.display_name === 'Dr. Marcus Chen').id;
});
after(() => d && d.stop());

function weekdayAhead(n) {
  let x = addDays(dateIn(TZ), n);
  while (weekday(x) === 0 || weekday(x) === 6) x = addDays(x, 1);
  return x;
}

test('shipped rule: a follow-up with the patient\'s own physician is booked at once, else requested', async () => {
  const day = weekdayAhead(5);
  // patient.demo's own physician is physician.demo (P1)
  const own = await pat.post('/api/scheduling/appointments',
    { type_id: FOLLOW_UP, provider_id: P1, start: (await slots(pat, FOLLOW_UP, P1, day))[0].start });
  assert.equal(own.status, 201, own.body);
  assert.equal(own.json.appointment.status, 'booked');
  const other = await pat.post('/api/scheduling/appointments',
    { type_id: FOLLOW_UP, provider_id: P2, start: (await slots(pat, FOLLOW_UP, P2, day))[0].start });
  assert.equal(other.status, 201, other.body);
  assert.equal(other.json.appointment.status, 'pending');
});

test('shipped rule: a new patient cannot self-book for today, and is told why', async () => {
  const today = dateIn(TZ);
  const wd = ((weekday(today) + 6) % 7) + 1; // 1 = Monday
  // physician2 works all of today
  const tpl = (await staff.get(`/api/scheduling/availability?provider=${P2}`)).json.templates;
  for (const t of tpl.filter((x) => x.weekday === wd)) {
    assert.equal((await staff.del('/api/scheduling/availability/' + t.id)).status, 204);
  }
  const add = await staff.post('/api/scheduling/availability', { provider_id: P2, weekday: wd, start: '00:00', end: '24:00' });
  assert.equal(add.status, 201, add.body);
  const todays = await slots(pat2, NEW_PATIENT, P2, today);
  assert.ok(todays.length > 0, 'slots left today');
  const r = await pat2.post('/api/scheduling/appointments', { type_id: NEW_PATIENT, provider_id: P2, start: todays[0].start });
  assert.equal(r.status, 403, r.body);
  assert.equal(r.json.error.code, 'denied_by_rule');
  assert.match(r.json.error.message, /can't be booked online for today/);
  assert.equal(q(d, `SELECT COUNT(*) FROM scheduling_appointments WHERE start_utc = ${epoch(todays[0].start)}`), '0');
  // staff may; another day is fine for the patient (as a request)
  const s = await staff.post('/api/scheduling/appointments',
    { type_id: NEW_PATIENT, provider_id: P2, start: todays[0].start, patient_id: pat2.user.id });
  assert.equal(s.status, 201, s.body);
  const later = await slots(pat2, NEW_PATIENT, P2, weekdayAhead(10));
  const ok = await pat2.post('/api/scheduling/appointments', { type_id: NEW_PATIENT, provider_id: P2, start: later[0].start });
  assert.equal(ok.status, 201, ok.body);
  assert.equal(ok.json.appointment.status, 'pending');
});

test('shipped rule: reminder lead times per type of visit', async () => {
  const day = weekdayAhead(9);
  const tele = (await slots(pat, TELEHEALTH, P1, day))[3];
  const r = await pat.post('/api/scheduling/appointments', { type_id: TELEHEALTH, provider_id: P1, start: tele.start });
  assert.equal(r.status, 201, r.body);
  const leads = q(d, `SELECT not_before FROM outbox WHERE ref = 'appointment:${r.json.appointment.id}' AND kind = 'appointment_reminder' ORDER BY not_before`)
    .split('\n').map(Number);
  assert.deepEqual(leads, [epoch(tele.start) - 24 * 3600, epoch(tele.start) - 15 * 60]);
  assert.equal(q(d, `SELECT reminder_leads FROM scheduling_appointments WHERE id = ${r.json.appointment.id}`), '24h,15m');
  // an after_book rule sees the booking and the plugin's lookup
  const note = JSON.parse(q(d, `SELECT data FROM outbox WHERE kind = 'test_summary' AND user_id = ${pat.user.id} ORDER BY id DESC LIMIT 1`));
  assert.equal(note.primary, P1);
  assert.equal(note.leads, '24h,15m');
  assert.ok(note.upcoming >= 1);
  // a new patient visit, once approved, gets the week-ahead reminder too
  const np = (await slots(pat, NEW_PATIENT, P1, day))[0];
  const a = await pat.post('/api/scheduling/appointments', { type_id: NEW_PATIENT, provider_id: P1, start: np.start });
  assert.equal(a.json.appointment.status, 'pending');
  assert.equal((await staff.post(`/api/scheduling/appointments/${a.json.appointment.id}/approve`)).status, 200);
  const npLeads = q(d, `SELECT not_before FROM outbox WHERE ref = 'appointment:${a.json.appointment.id}' AND kind = 'appointment_reminder' ORDER BY not_before`)
    .split('\n').map(Number);
  assert.deepEqual(npLeads, [7 * 86400, 72 * 3600, 24 * 3600].map((s) => epoch(np.start) - s));
});

test('a before_cancel rule can refuse a cancellation with its reason', async () => {
  const day = weekdayAhead(6);
  const s = (await slots(pat, TELEHEALTH, P2, day))[1];
  const a = (await pat.post('/api/scheduling/appointments', { type_id: TELEHEALTH, provider_id: P2, start: s.start })).json.appointment;
  const no = await pat.post(`/api/scheduling/appointments/${a.id}/cancel`, { reason: 'test-deny' });
  assert.equal(no.status, 403);
  assert.deepEqual(no.json.error, { code: 'denied_by_rule', message: 'cancellation blocked by a test rule' });
  assert.equal(q(d, `SELECT status FROM scheduling_appointments WHERE id = ${a.id}`), 'booked');
  assert.equal((await pat.post(`/api/scheduling/appointments/${a.id}/cancel`, { reason: 'fine' })).status, 200);
});

test('patients never see or touch each other\'s appointments (IDOR)', async () => {
  const day = weekdayAhead(7);
  const s = await slots(pat, TELEHEALTH, P1, day);
  const a = (await pat.post('/api/scheduling/appointments', { type_id: TELEHEALTH, provider_id: P1, start: s[0].start })).json.appointment;
  const w = (await pat.post('/api/scheduling/waitlist', { type_id: TELEHEALTH, from: day, to: day })).json.entry;
  const base = `/api/scheduling/appointments/${a.id}`;
  for (const [m, p, body] of [
    ['GET', base], ['POST', base + '/cancel', {}], ['POST', base + '/reschedule', { start: s[1].start }],
    ['GET', `/api/scheduling/appointments?patient=${pat.user.id}`],
    ['GET', `/api/scheduling/patients/${pat.user.id}/provider`],
    ['GET', `/api/scheduling/waitlist?patient=${pat.user.id}`],
    ['DELETE', `/api/scheduling/waitlist/${w.id}`],
  ]) {
    const r = await pat2.call(m, p, body);
    assert.equal(r.status, 404, `${m} ${p}: ${r.body}`);
    assert.equal(r.json.error.message, 'no such record');
  }
  for (const p of [base + '/approve', base + '/decline', base + '/status', '/api/scheduling/schedule']) {
    const r = p.endsWith('schedule') ? await pat2.get(p) : await pat2.post(p, p.endsWith('status') ? { status: 'noshow' } : {});
    assert.equal(r.status, 403, p);
  }
  const booked = await pat2.post('/api/scheduling/appointments', { type_id: TELEHEALTH, provider_id: P1, start: s[2].start, patient_id: pat.user.id });
  assert.equal(booked.status, 403);
  const joined = await pat2.post('/api/scheduling/waitlist', { type_id: TELEHEALTH, patient_id: pat.user.id });
  assert.equal(joined.status, 403);
  const mine = (await pat2.get('/api/scheduling/appointments')).json.appointments;
  assert.ok(mine.every((x) => x.patient_id === pat2.user.id));
  assert.ok(!(await pat2.get('/api/scheduling/waitlist')).json.entries.some((x) => x.id === w.id));
  // nothing changed
  const still = await pat.get(base);
  assert.equal(still.json.appointment.status, 'booked');
  assert.equal(still.json.appointment.start, s[0].start);
  assert.equal(q(d, `SELECT status FROM scheduling_waitlist WHERE id = ${w.id}`), 'active');
  // denied and not-found reads are audited with their outcome
  assert.ok(Number(q(d, "SELECT COUNT(*) FROM audit_log WHERE action LIKE '%/appointments/:id%' AND outcome = 'not_found'")) >= 1);
});

test('the daemon logged no errors and left no transaction open', () => {
  const bad = d.stderr.split('\n').filter((l) => /level=error|left open|wrote no response/.test(l));
  assert.deepEqual(bad, []);
});

// ---- clocks changing -------------------------------------------------

// The next spring change after at least two days from now: US second
// Sunday of March, EU last Sunday of March.
function springSunday(zone) {
  const now = new Date();
  for (let y = now.getUTCFullYear(); ; y++) {
    let day;
    if (zone === 'America/New_York') {
      day = 8;
      while (new Date(Date.UTC(y, 2, day)).getUTCDay() !== 0) day++;
    } else {
      day = 31;
      while (new Date(Date.UTC(y, 2, day)).getUTCDay() !== 0) day--;
    }
    const iso = `${y}-03-${String(day).padStart(2, '0')}`;
    if (Date.parse(iso) > now.getTime() + 2 * 86400e3) return iso;
  }
}

for (const [zone, before9, after9] of [['America/New_York', 14, 13], ['Europe/London', 9, 8]]) {
  test(`slots in the ${zone} week the clocks go forward`, async (t) => {
    const sunday = springSunday(zone);
    const horizon = Math.ceil((Date.parse(sunday) - Date.now()) / 86400e3) + 10;
    const dz = await startDaemon({
      config: {
        plugins: { scheduling: 'on' }, practice: { timezone: zone },
        'plugin.scheduling': { max_days_ahead: horizon },
      },
    });
    t.after(() => dz.stop());
    const [p, st] = await Promise.all([loginAs(dz, 'patient.demo'), loginAs(dz, 'staff.demo')]);
    const prov = (await st.get('/api/scheduling/providers')).json.providers[0].id;
    const friday = addDays(sunday, -2);
    const monday = addDays(sunday, 1);
    const s = await slots(p, TELEHEALTH, prov, friday, monday);
    const fri = s.filter((x) => dateIn(zone, new Date(x.start)) === friday);
    const mon = s.filter((x) => dateIn(zone, new Date(x.start)) === monday);
    assert.equal(fri.length, 28);
    assert.equal(mon.length, 28);
    assert.equal(s.length, 56, 'nothing at the weekend');
    assert.equal(new Date(fri[0].start).getUTCHours(), before9);
    assert.equal(new Date(mon[0].start).getUTCHours(), after9);
    // a Sunday night template across the change: 01:00-04:00 is two real hours
    const tpl = await st.post('/api/scheduling/availability', { provider_id: prov, weekday: 7, start: '01:00', end: '04:00' });
    assert.equal(tpl.status, 201, tpl.body);
    const sun = await slots(p, TELEHEALTH, prov, sunday);
    assert.equal(sun.length, 8);
    assert.equal(epoch(sun[7].end) - epoch(sun[0].start), 2 * 3600);
    // booking across the week keeps the wall time in the schedule
    const b = await p.post('/api/scheduling/appointments', { type_id: TELEHEALTH, provider_id: prov, start: mon[0].start });
    assert.equal(b.status, 201, b.body);
    const sch = await st.get(`/api/scheduling/schedule?provider=${prov}&date=${friday}&days=4`);
    const days = sch.json.providers[0].days;
    assert.deepEqual(days.map((x) => x.date), [friday, addDays(friday, 1), sunday, monday]);
    assert.equal(days[3].appointments.length, 1);
    assert.equal(days[0].windows[0].start, fri[0].start);
    assert.equal(days[3].windows[0].start, mon[0].start);
    assert.equal(q(dz, `SELECT local_date FROM scheduling_appointments WHERE id = ${b.json.appointment.id}`), monday);
  });
}
