// pages/admin-audit.js — for admins: search the audit log by patient, user
// and time (GET /api/admin/audit) and read the matching records, newest
// first. Read-only: the audit log cannot be changed from the portal.

import { el, field, messageBox, busy, clear, dataTable, formatDateTime } from '../dom.js';

function isoStart(date) {
  return date ? new Date(date + 'T00:00:00').toISOString() : '';
}

function isoEnd(date) {
  return date ? new Date(date + 'T23:59:59.999').toISOString() : '';
}

export async function render(root, app) {
  const box = messageBox();
  const results = el('div', { class: 'results' });
  const patient = field({ label: 'Patient ID', name: 'patient_id', required: false, optionalMark: false, autocomplete: 'off', inputmode: 'numeric', value: app.query.get('patient_id') || '' });
  const user = field({ label: 'User ID', name: 'user_id', required: false, optionalMark: false, autocomplete: 'off', inputmode: 'numeric', value: app.query.get('user_id') || '' });
  const from = field({ label: 'From', name: 'from', type: 'date', required: false, optionalMark: false });
  const to = field({ label: 'To', name: 'to', type: 'date', required: false, optionalMark: false });
  const limit = field({
    label: 'Show at most', name: 'limit', type: 'select', required: false, optionalMark: false,
    options: [{ value: '50', label: '50 records' }, { value: '200', label: '200 records' }, { value: '1000', label: '1000 records' }],
  });
  const go = el('button', { type: 'submit', class: 'button primary' }, 'Search');
  const form = el('form', { class: 'form grid-form', role: 'search', 'aria-label': 'Audit log', novalidate: true },
    patient.wrap, user.wrap, from.wrap, to.wrap, limit.wrap, el('div', { class: 'actions' }, go));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(go, () => search(true));
  });

  async function search(speak) {
    box.hide();
    const p = new URLSearchParams();
    if (patient.input.value.trim()) p.set('patient_id', patient.input.value.trim());
    if (user.input.value.trim()) p.set('user_id', user.input.value.trim());
    if (from.input.value) p.set('from', isoStart(from.input.value));
    if (to.input.value) p.set('to', isoEnd(to.input.value));
    p.set('limit', limit.input.value);
    try {
      const res = await app.api('GET', '/api/admin/audit?' + p.toString());
      const entries = res.entries || [];
      clear(results);
      if (speak) app.announce(entries.length === 1 ? '1 record found.' : entries.length + ' records found.');
      results.appendChild(entries.length
        ? dataTable('Audit records', [
          { label: 'Time', cell: (e) => el('time', { datetime: e.time }, formatDateTime(e.time)) },
          { label: 'User', cell: (e) => (e.username ? e.username + (e.role ? ' (' + e.role + ')' : '') : (e.user_id ?? '—')) },
          { label: 'Action', cell: (e) => el('code', null, e.action || '') },
          { label: 'Patient', cell: (e) => (e.patient_id ?? '—') },
          { label: 'Object', cell: (e) => (e.object_type ? e.object_type + (e.object_id != null ? ' ' + e.object_id : '') : '—') },
          { label: 'Client', cell: (e) => e.client || '—' },
          { label: 'Outcome', cell: (e) => el('span', { class: 'tag' + (e.outcome && e.outcome !== 'ok' && e.outcome !== 'success' ? ' tag-warn' : '') }, e.outcome || '—') },
        ], entries)
        : el('p', null, 'No records match.'));
    } catch (e) {
      if (!(e instanceof app.ApiError) || e.signedOut) return;
      box.show(e.message, 'error');
    }
  }

  root.append(el('section', { class: 'card', 'aria-labelledby': 'search-h' },
    el('h2', { id: 'search-h' }, 'Search'), form), box.node, results);
  await search(false);
}
