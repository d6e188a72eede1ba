// pages/patient-tools.js — pieces shared by the care team's patient page and
// the admin accounts page: the "add a patient" form (POST
// /api/admin/patients) and the panel that shows an activation code once so it
// can be handed to the patient. Not patient search or account actions.

import { el, field, messageBox, busy, clear, formatDateTime } from '../dom.js';

// A region that shows one activation code at a time. show() focuses it so a
// screen reader reads the code straight away.
export function codePanel() {
  const node = el('div', { class: 'code-panel', hidden: true, tabindex: '-1', role: 'region', 'aria-label': 'Activation code' });
  return {
    node,
    show(name, code, expires) {
      clear(node);
      node.append(
        el('h3', null, 'Activation code for ' + name),
        el('p', { class: 'activation-code' }, el('code', { id: 'activation-code' }, code)),
        expires ? el('p', null, 'Valid until ', el('time', { datetime: expires }, formatDateTime(expires)), '.') : null,
        el('p', null, 'Give this code to the patient in person, by letter or over the phone. ',
          'They enter it on the portal\'s "Activate account" page to choose a username and password. ',
          'It is shown only now.'));
      node.hidden = false;
      node.focus();
    },
  };
}

// The add-patient form. onCreated(patient) runs after the code is shown.
export function addPatientForm(app, panel, onCreated = () => {}) {
  const box = messageBox();
  const name = field({ label: 'Full name', name: 'patient-name', required: true, autocomplete: 'off' });
  const dob = field({ label: 'Date of birth', name: 'patient-dob', type: 'date', required: false, autocomplete: 'off' });
  const email = field({
    label: 'Email', name: 'patient-email', type: 'email', required: false, autocomplete: 'off',
    hint: 'For reminders, once the patient has activated the account.',
  });
  const submit = el('button', { type: 'submit', class: 'button primary' }, 'Add patient and create code');
  const form = el('form', { class: 'form narrow', novalidate: true },
    name.wrap, dob.wrap, email.wrap, el('div', { class: 'actions' }, submit));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(submit, async () => {
      for (const f of [name, dob, email]) f.setError(null);
      box.hide();
      const body = { display_name: name.input.value.trim() };
      if (!body.display_name) { name.setError('Enter the patient\'s name.'); name.input.focus(); return; }
      if (dob.input.value) body.date_of_birth = dob.input.value;
      const mail = email.input.value.trim();
      if (mail) {
        if (!email.input.checkValidity()) { email.setError('Enter a valid email address.'); email.input.focus(); return; }
        body.email = mail;
      }
      try {
        const res = await app.api('POST', '/api/admin/patients', body);
        form.reset();
        panel.show(res.patient ? res.patient.display_name : body.display_name, res.activation_code, res.expires_at);
        onCreated(res.patient);
      } catch (e) {
        if (!(e instanceof app.ApiError) || e.signedOut) return;
        box.show(e.message, 'error');
      }
    });
  });
  return el('div', null, box.node, form);
}

// Asks for a new activation code for an existing patient account.
export async function newActivationCode(app, panel, box, user) {
  try {
    const res = await app.api('POST', '/api/admin/users/' + encodeURIComponent(user.id) + '/activation-code');
    panel.show(user.display_name || user.username || 'patient', res.activation_code, res.expires_at);
  } catch (e) {
    if (!(e instanceof app.ApiError) || e.signedOut) return;
    box.show(e.message, 'error');
  }
}
