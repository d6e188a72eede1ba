// pages/patients.js — for staff and physicians: find a patient by name
// (GET /api/patients?q=), give a patient a new activation code, and add a
// new patient. Not the patient's record: plugins show clinical pages.

import { el, field, messageBox, busy, clear, dataTable, formatDate } from '../dom.js';
import { codePanel, addPatientForm, newActivationCode } from './patient-tools.js';

export async function render(root, app) {
  const panel = codePanel();
  const box = messageBox();
  const results = el('div', { class: 'results' });
  const q = field({ label: 'Name', name: 'q', type: 'search', required: false, optionalMark: false, autocomplete: 'off', value: app.query.get('q') || '' });
  const go = el('button', { type: 'submit', class: 'button primary' }, 'Search');
  const form = el('form', { class: 'form inline', role: 'search', 'aria-label': 'Patients', novalidate: true },
    q.wrap, el('div', { class: 'actions' }, go));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(go, search);
  });

  async function search() {
    box.hide();
    clear(results);
    try {
      const res = await app.api('GET', '/api/patients?' + new URLSearchParams({ q: q.input.value.trim() }).toString());
      const patients = res.patients || [];
      app.announce(patients.length === 1 ? '1 patient found.' : patients.length + ' patients found.');
      results.appendChild(patients.length
        ? dataTable('Patients found', [
          { label: 'Name', cell: (p) => p.display_name },
          { label: 'Date of birth', cell: (p) => (p.date_of_birth ? formatDate(p.date_of_birth + 'T12:00:00Z') : '—') },
          {
            label: 'Action',
            cell: (p) => el('button', {
              type: 'button', class: 'button small',
              onclick: (ev) => busy(ev.currentTarget, () => newActivationCode(app, panel, box, p)),
            }, 'New activation code', el('span', { class: 'visually-hidden' }, ' for ' + p.display_name)),
          },
        ], patients)
        : el('p', null, 'No patients match.'));
    } catch (e) {
      if (!(e instanceof app.ApiError) || e.signedOut) return;
      box.show(e.message, 'error');
    }
  }

  root.append(
    el('section', { class: 'card', 'aria-labelledby': 'find-h' },
      el('h2', { id: 'find-h' }, 'Find a patient'), form, box.node, results),
    panel.node,
    el('section', { class: 'card', 'aria-labelledby': 'add-h' },
      el('h2', { id: 'add-h' }, 'Add a new patient'),
      el('p', null, 'The patient gets an activation code to set up their own sign-in.'),
      addPatientForm(app, panel)));
  if (q.input.value) await search();
}
