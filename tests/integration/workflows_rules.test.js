// Deny and amend semantics of workflow handlers, end to end through the
// scheduling plugin's booking API: a rule refusing same-day new-patient
// visits, a rule auto-approving follow-ups with the patient's own physician,
// handler order across files, atrium.deny under pcall, which fields an
// amendment may change, after_ events that act but cannot refuse, and
// lookups. Each test loads its own rules with the admin reload API.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { startDaemon, loginAs } = require('./lib');

const UNAVAILABLE = 'this action is not available right now';
const GENERIC = "this action is not allowed by the practice's rules";

// A zone where it is now between 08:00 and 15:59, so today still has slots.
const hourIn = (tz) => Number(new Intl.DateTimeFormat('en-GB',
  { timeZone: tz, hour: '2-digit', hourCycle: 'h23' }).format(new Date()));
const dateIn = (tz, t = Date.now()) => new Intl.DateTimeFormat('en-CA',
  { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(t));
const TZ = ['Asia/Tokyo', 'Asia/Kolkata', 'Europe/Berlin', 'America/New_York', 'America/Los_Angeles',
  'Pacific/Honolulu', 'Pacific/Auckland', 'Asia/Dubai', 'Pacific/Kiritimati', 'America/Sao_Paulo',
  'Europe/Moscow', 'Pacific/Pago_Pago'].find((z) => hourIn(z) >= 8 && hourIn(z) < 16);

let d, pat, staff, admin, types, P_OWN, P_OTHER, nextDay = 8;

function sql(q) {
  const r = spawnSync('sqlite3', ['-cmd', '.timeout 5000', d.dbPath, q], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('sqlite3: ' + r.stderr);
  return r.stdout.trim();
}

async function rules(files) {
  const dir = path.join(d.dir, 'workflows');
  for (const f of fs.readdirSync(dir)) fs.unlinkSync(path.join(dir, f));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const r = await admin.post('/api/admin/workflows/reload');
  assert.equal(r.status, 200, r.body);
}

// The first free slot of `type` with `provider` on `day` (YYYY-MM-DD), or
// on a later day when day is omitted (each call moves on, so successful
// bookings never compete for a slot).
async function slot(type, provider, day) {
  for (let n = 0; n < 30; n++) {
    const dd = day || dateIn(TZ, Date.now() + (nextDay++) * 86400e3);
    const r = await pat.get(`/api/scheduling/slots?type=${types[type]}&provider=${provider}&from=${dd}&to=${dd}`);
    assert.equal(r.status, 200, r.body);
    const free = r.json.slots.filter((s) => s.status === 'free');
    if (free.length) return free[0].start;
    if (day) break;
  }
  throw new Error(`no free ${type} slot`);
}

const book = (client, type, provider, start, extra = {}) =>
  client.post('/api/scheduling/appointments', { type_id: types[type], provider_id: provider, start, ...extra });

before(async () => {
  assert.ok(TZ, 'a time zone in working hours');
  d = await startDaemon({ config: { plugins: { scheduling: 'on' }, practice: { timezone: TZ } } });
  [pat, staff, admin] = await Promise.all(['patient.demo', 'staff.demo', 'admin.demo'].map((u) => loginAs(d, u)));
  types = {};
  for (const t of (await pat.get('/api/scheduling/types')).json.types) types[t.name] = t.id;
  const own = await pat.get(`/api/scheduling/patients/${pat.user.id}/provider`);
  assert.equal(own.status, 200, own.body);
  P_OWN = own.json.provider_id;
  assert.ok(P_OWN, 'patient.demo has a physician of their own');
  P_OTHER = (await pat.get('/api/scheduling/providers')).json.providers.map((p) => p.id).find((id) => id !== P_OWN);
});
after(() => d && d.stop());

test('a rule refusing same-day new-patient visits: the patient gets 403 with its reason, nothing is booked', async () => {
  const reason = 'New patients cannot book online for today: please pick another day.';
  await rules({
    'same-day.lua': `
      atrium.on("appointment.before_book", function(ev)
        if ev.new_patient and ev.booked_by_role == "patient" and ev.start_local:sub(1, 10) == ev.today then
          return ${JSON.stringify(reason)}
        end
      end)`,
  });
  // Dr. Other works all of today.
  const today = dateIn(TZ);
  const wd = new Date(today + 'T12:00:00Z').getUTCDay() || 7;
  const tpl = (await staff.get(`/api/scheduling/availability?provider=${P_OTHER}`)).json.templates;
  for (const t of tpl.filter((x) => x.weekday === wd))
    assert.equal((await staff.del('/api/scheduling/availability/' + t.id)).status, 204);
  const add = await staff.post('/api/scheduling/availability', { provider_id: P_OTHER, weekday: wd, start: '00:00', end: '24:00' });
  assert.equal(add.status, 201, add.body);
  const start = await slot('New patient visit', P_OTHER, today);
  const r = await book(pat, 'New patient visit', P_OTHER, start);
  assert.equal(r.status, 403, r.body);
  assert.deepEqual(r.json.error, { code: 'denied_by_rule', message: reason });
  assert.equal(sql(`SELECT COUNT(*) FROM scheduling_appointments WHERE start_utc = ${Date.parse(start) / 1000}`), '0');
  // Another day is fine (a request staff approve); staff may book today.
  const later = await book(pat, 'New patient visit', P_OTHER, await slot('New patient visit', P_OTHER));
  assert.equal(later.status, 201, later.body);
  assert.equal(later.json.appointment.status, 'pending');
  const bySt = await book(staff, 'New patient visit', P_OTHER, start, { patient_id: pat.user.id });
  assert.equal(bySt.status, 201, bySt.body);
});

test("a rule auto-approving follow-ups with the patient's own physician: booked at once, else pending", async () => {
  await rules({
    'follow-up.lua': `
      atrium.on("appointment.before_book", function(ev)
        if ev.type_name == "Follow-up visit" and ev.status == "pending"
            and ev.provider_id == ev.patient_primary_provider_id then
          ev.status = "booked"
        end
      end)`,
  });
  const own = await book(pat, 'Follow-up visit', P_OWN, await slot('Follow-up visit', P_OWN));
  assert.equal(own.status, 201, own.body);
  assert.equal(own.json.appointment.status, 'booked');
  const other = await book(pat, 'Follow-up visit', P_OTHER, await slot('Follow-up visit', P_OTHER));
  assert.equal(other.status, 201, other.body);
  assert.equal(other.json.appointment.status, 'pending');
});

test('handlers run in file-name order (bytewise) then registration order, see earlier amendments, and the first deny stops the chain', async () => {
  await rules({
    'b-last.lua': `
      atrium.on("appointment.before_book", function(ev) return "trace " .. ev.reminder_leads end)
      atrium.on("appointment.before_book", function(ev)
        atrium.notify{ user_id = ev.patient_id, kind = "wf_after_deny" }
      end)`,
    'B-upper.lua': 'atrium.on("appointment.before_book", function(ev) ev.reminder_leads = ev.reminder_leads .. ",B" end)',
    '10-first.lua': `
      atrium.on("appointment.before_book", function(ev) ev.reminder_leads = "10a" end)
      atrium.on("appointment.before_book", function(ev) ev.reminder_leads = ev.reminder_leads .. ",10b" end)`,
  });
  const r = await book(pat, 'Telehealth check-in', P_OWN, await slot('Telehealth check-in', P_OWN));
  assert.equal(r.status, 403, r.body);
  assert.equal(r.json.error.message, 'trace 10a,10b,B');
  assert.equal(sql("SELECT COUNT(*) FROM outbox WHERE kind = 'wf_after_deny'"), '0', 'a handler after the deny ran');
});

test('atrium.deny cannot be caught, and false or a bare deny give the generic reason', async () => {
  await rules({
    'deny.lua': `
      atrium.on("appointment.before_book", function(ev)
        if ev.type_name == "Telehealth check-in" then
          local ok = pcall(atrium.deny, "denied under pcall")
          return nil
        elseif ev.type_name == "Annual physical" then
          return false
        else
          atrium.deny()
        end
      end)`,
  });
  const caught = await book(pat, 'Telehealth check-in', P_OWN, await slot('Telehealth check-in', P_OWN));
  assert.equal(caught.status, 403, caught.body);
  assert.equal(caught.json.error.message, 'denied under pcall');
  const fls = await book(pat, 'Annual physical', P_OWN, await slot('Annual physical', P_OWN));
  assert.equal(fls.status, 403);
  assert.equal(fls.json.error.message, GENERIC);
  const bare = await book(pat, 'Follow-up visit', P_OWN, await slot('Follow-up visit', P_OWN));
  assert.equal(bare.status, 403);
  assert.equal(bare.json.error.message, GENERIC);
});

test('only declared fields are amended; a wrong type or return value fails the handler, which refuses a clinical booking', async () => {
  await rules({
    'amend.lua': `
      atrium.on("appointment.before_book", function(ev)
        if ev.type_name == "Follow-up visit" then
          ev.provider_id = 999999       -- not amendable: ignored
          ev.patient_id = 1             -- not amendable: ignored
          ev.status = "booked"          -- amendable
          ev.reminder_leads = "48h,1h"  -- amendable
        elseif ev.type_name == "Telehealth check-in" then
          ev.status = 5                 -- wrong type
        else
          return 42                     -- not a verdict
        end
      end)`,
  });
  const start = await slot('Follow-up visit', P_OTHER);
  const ok = await book(pat, 'Follow-up visit', P_OTHER, start);
  assert.equal(ok.status, 201, ok.body);
  const a = ok.json.appointment;
  assert.equal(a.status, 'booked');
  assert.equal(a.provider_id, P_OTHER);
  assert.equal(a.patient_id, pat.user.id);
  assert.equal(sql(`SELECT reminder_leads FROM scheduling_appointments WHERE id = ${a.id}`), '48h,1h');
  assert.equal(sql(`SELECT COUNT(*) FROM outbox WHERE ref = 'appointment:${a.id}' AND kind = 'appointment_reminder'`), '2');
  const wrongType = await book(pat, 'Telehealth check-in', P_OTHER, await slot('Telehealth check-in', P_OTHER));
  assert.equal(wrongType.status, 403);
  assert.equal(wrongType.json.error.message, UNAVAILABLE);
  const wrongReturn = await book(pat, 'Annual physical', P_OTHER, await slot('Annual physical', P_OTHER));
  assert.equal(wrongReturn.status, 403);
  assert.equal(wrongReturn.json.error.message, UNAVAILABLE);
  const errors = (await admin.get('/api/admin/workflows')).json.errors.map((e) => e.message);
  assert.ok(errors.slice(0, 2).every((m) => /^amend\.lua:\d+: appointment\.before_book: /.test(m)), errors.join('\n'));
});

test('after_book handlers act (queue a notification) but cannot undo the booking', async () => {
  await rules({
    'after.lua': `
      atrium.on("appointment.after_book", function(ev)
        atrium.notify{ user_id = ev.patient_id, kind = "wf_booked", ref = "appointment:" .. ev.appointment_id,
                       data = { type = ev.type_name } }
        return "too late to refuse"
      end)`,
  });
  const r = await book(pat, 'Telehealth check-in', P_OWN, await slot('Telehealth check-in', P_OWN));
  assert.equal(r.status, 201, r.body);
  const id = r.json.appointment.id;
  assert.equal(sql(`SELECT status FROM scheduling_appointments WHERE id = ${id}`), 'booked');
  assert.equal(sql(`SELECT user_id || ' ' || data FROM outbox WHERE kind = 'wf_booked' AND ref = 'appointment:${id}'`),
    `${pat.user.id} {"type":"Telehealth check-in"}`);
});

test("a handler reads a plugin's lookup and the practice's settings", async () => {
  await rules({
    'lookup.lua': `
      atrium.on("appointment.before_book", function(ev)
        local s = atrium.lookup("scheduling.patient_summary", { patient_id = ev.patient_id })
        return string.format("primary %s, tz %s, cutoff %s", tostring(s.primary_provider_id),
          atrium.setting("practice.timezone"), atrium.setting("plugin.scheduling.cutoff_hours"))
      end)`,
  });
  const r = await book(pat, 'Telehealth check-in', P_OWN, await slot('Telehealth check-in', P_OWN));
  assert.equal(r.status, 403, r.body);
  assert.equal(r.json.error.message, `primary ${P_OWN}, tz ${TZ}, cutoff 24`);
});

test('a notification the outbox refuses fails the handler, and the log says why', async () => {
  await rules({
    'nobody.lua': `
      atrium.on("appointment.before_book", function(ev)
        atrium.notify{ user_id = 999999, kind = "wf_nobody" }
      end)`,
  });
  const r = await book(pat, 'Telehealth check-in', P_OWN, await slot('Telehealth check-in', P_OWN));
  assert.equal(r.status, 403, r.body);
  assert.equal(r.json.error.message, UNAVAILABLE);
  assert.match(d.stderr, /level=warn comp=workflow msg="atrium\.notify: the outbox refused kind 'wf_nobody' for user 999999: no such user/);
  const errors = (await admin.get('/api/admin/workflows')).json.errors;
  assert.match(errors[0].message, /^nobody\.lua:3: appointment\.before_book: .*could not be queued/);
});

test('the daemon logged no error besides the deliberate handler failures', () => {
  const bad = d.stderr.split('\n').filter((l) => /level=error/.test(l) && !/comp=workflow msg="(amend|nobody)\.lua/.test(l));
  assert.deepEqual(bad, []);
});
