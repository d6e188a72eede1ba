// A patient-data route that commits a change writes its audit row in the
// same transaction: exactly one row per request, naming the patient, and
// none lost when the change happens.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const lib = require('./lib');

let d;
before(async () => {
  d = await lib.startDaemon({ config: { plugins: { scheduling: 'on' }, practice: { timezone: 'UTC' } } });
});
after(() => d.stop());

function addDays(iso, n) {
  const t = new Date(iso + 'T12:00:00Z');
  t.setUTCDate(t.getUTCDate() + n);
  return t.toISOString().slice(0, 10);
}

test('a booking and its audit row are committed together, once', async () => {
  const pat = await lib.loginAs(d, 'patient.demo');
  const types = (await pat.get('/api/scheduling/types')).json.types;
  const t = types.find((x) => x.self_bookable && !x.needs_approval && !x.new_patient);
  assert.ok(t, 'a directly bookable type');
  const from = addDays(new Date().toISOString().slice(0, 10), 3);
  const s = (await pat.get(`/api/scheduling/slots?type=${t.id}&from=${from}&to=${addDays(from, 7)}`)).json.slots[0];
  assert.ok(s, 'an open slot');
  const before = Number(lib.sqlite(d.dbPath, "SELECT COUNT(*) FROM audit_log WHERE action = 'POST /api/scheduling/appointments'"));
  const r = await pat.post('/api/scheduling/appointments', { type_id: t.id, provider_id: s.provider_id, start: s.start });
  assert.equal(r.status, 201, r.body);
  const rows = lib.sqlite(d.dbPath, "SELECT patient_id || '|' || outcome FROM audit_log WHERE action = 'POST /api/scheduling/appointments' ORDER BY id").split('\n');
  assert.equal(rows.length, before + 1, 'exactly one audit row for the booking');
  assert.equal(rows[rows.length - 1], `${pat.user.id}|ok`);
  const again = await pat.post('/api/scheduling/appointments', { type_id: t.id, provider_id: s.provider_id, start: s.start });
  assert.equal(again.status, 409);
  const after2 = lib.sqlite(d.dbPath, "SELECT outcome FROM audit_log WHERE action = 'POST /api/scheduling/appointments' ORDER BY id").split('\n');
  assert.equal(after2.length, before + 2, 'the refused booking is audited too');
  assert.equal(after2[after2.length - 1], 'error');
  assert.equal(lib.runCli(['--config', d.config, '--verify-audit']).status, 0);
});
