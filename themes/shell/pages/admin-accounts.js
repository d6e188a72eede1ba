// pages/admin-accounts.js — for admins: find accounts by name and role, lock
// and unlock them, reset two-step verification, give patients activation
// codes, add patients, and create staff, physician and admin accounts.
// Not the signed-in admin's own account (account.js).

import { el, field, messageBox, busy, clear, dataTable, formatDate } from '../dom.js';
import { codePanel, addPatientForm, newActivationCode } from './patient-tools.js';

const ROLES = [
  { value: '', label: 'Any role' },
  { value: 'patient', label: 'Patient' },
  { value: 'staff', label: 'Staff' },
  { value: 'physician', label: 'Physician' },
  { value: 'admin', label: 'Administrator' },
];

function status(u) {
  if (u.locked) return 'Locked';
  if (u.activated === false) return 'Waiting for activation';
  return 'Active';
}

export async function render(root, app) {
  const panel = codePanel();
  const box = messageBox();
  const results = el('div', { class: 'results' });
  const q = field({ label: 'Name or username', name: 'q', type: 'search', required: false, optionalMark: false, autocomplete: 'off' });
  const role = field({ label: 'Role', name: 'role', type: 'select', required: false, optionalMark: false, options: ROLES });
  const go = el('button', { type: 'submit', class: 'button primary' }, 'Search');
  const form = el('form', { class: 'form inline', role: 'search', 'aria-label': 'Accounts', novalidate: true },
    q.wrap, role.wrap, el('div', { class: 'actions' }, go));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(go, () => search(true));
  });

  async function search(speak) {
    const params = new URLSearchParams({ q: q.input.value.trim(), role: role.input.value });
    try {
      const res = await app.api('GET', '/api/admin/users?' + params.toString());
      const users = res.users || [];
      clear(results);
      if (speak) app.announce(users.length === 1 ? '1 account found.' : users.length + ' accounts found.');
      results.appendChild(users.length ? table(users) : el('p', null, 'No accounts match.'));
    } catch (e) {
      if (!(e instanceof app.ApiError) || e.signedOut) return;
      box.show(e.message, 'error');
    }
  }

  function table(users) {
    return dataTable('Accounts', [
      { label: 'Name', cell: (u) => u.display_name || u.username },
      { label: 'Username', cell: (u) => u.username || '—' },
      { label: 'Role', cell: (u) => (ROLES.find((r) => r.value === u.role) || { label: u.role }).label },
      { label: 'Status', cell: (u) => el('span', { class: 'tag' + (u.locked ? ' tag-warn' : '') }, status(u)) },
      { label: 'Two-step', cell: (u) => (u.totp_enabled ? 'On' : 'Off') },
      { label: 'Created', cell: (u) => (u.created_at ? formatDate(u.created_at) : '—') },
      { label: 'Actions', cell: (u) => el('div', { class: 'row-actions' }, actions(u)) },
    ], users);
  }

  function actions(u) {
    const who = ' ' + (u.display_name || u.username);
    const out = [];
    const act = (label, fn) => el('button', {
      type: 'button', class: 'button small',
      onclick: (ev) => busy(ev.currentTarget, fn),
    }, label, el('span', { class: 'visually-hidden' }, who));
    if (u.id === app.user.id) return [el('span', { class: 'meta' }, 'You')];
    if (u.locked) out.push(act('Unlock', () => userAction(u, 'unlock', 'Unlocked' + who + '.')));
    else out.push(act('Lock', () => userAction(u, 'lock', 'Locked' + who + '. Their sessions have ended.')));
    if (u.totp_enabled) out.push(act('Reset two-step', () => userAction(u, 'reset-totp', 'Two-step verification reset for' + who + '.')));
    if (u.role === 'patient' && u.activated === false) out.push(act('New activation code', () => newActivationCode(app, panel, box, u)));
    return out;
  }

  async function userAction(u, action, done) {
    try {
      await app.api('POST', '/api/admin/users/' + encodeURIComponent(u.id) + '/' + action);
      await search(false);
      box.show(done, 'success');
    } catch (e) {
      if (!(e instanceof app.ApiError) || e.signedOut) return;
      box.show(e.message, 'error');
    }
  }

  root.append(
    el('section', { class: 'card', 'aria-labelledby': 'find-h' },
      el('h2', { id: 'find-h' }, 'Find accounts'), form, box.node, results),
    panel.node,
    el('section', { class: 'card', 'aria-labelledby': 'add-h' },
      el('h2', { id: 'add-h' }, 'Add a patient'),
      el('p', null, 'Patients set up their own sign-in with an activation code.'),
      addPatientForm(app, panel, () => search(false))),
    el('section', { class: 'card', 'aria-labelledby': 'staff-h' },
      el('h2', { id: 'staff-h' }, 'Create a practice account'),
      staffForm(app, () => search(false))));
  await search(false);
}

function staffForm(app, onCreated) {
  const box = messageBox();
  const name = field({ label: 'Full name', name: 'staff-name', required: true, autocomplete: 'off' });
  const username = field({
    label: 'Username', name: 'staff-username', required: true, autocomplete: 'off',
    autocapitalize: 'none', spellcheck: 'false',
  });
  const role = field({
    label: 'Role', name: 'staff-role', type: 'select', required: true,
    options: [
      { value: 'staff', label: 'Staff' },
      { value: 'physician', label: 'Physician' },
      { value: 'admin', label: 'Administrator' },
    ],
  });
  const password = field({
    label: 'First password', name: 'staff-password', type: 'password', required: true,
    autocomplete: 'new-password',
    hint: 'Give it to the person privately; they should change it after signing in. Roles that need two-step verification set it up at first sign-in.',
  });
  const submit = el('button', { type: 'submit', class: 'button primary' }, 'Create account');
  const form = el('form', { class: 'form narrow', novalidate: true },
    name.wrap, username.wrap, role.wrap, password.wrap, el('div', { class: 'actions' }, submit));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(submit, async () => {
      for (const f of [name, username, password]) f.setError(null);
      box.hide();
      const body = {
        display_name: name.input.value.trim(),
        username: username.input.value.trim(),
        role: role.input.value,
        password: password.input.value,
      };
      if (!body.display_name) { name.setError('Enter the person\'s name.'); name.input.focus(); return; }
      if (!body.username) { username.setError('Choose a username.'); username.input.focus(); return; }
      if (!body.password) { password.setError('Choose a first password.'); password.input.focus(); return; }
      try {
        const res = await app.api('POST', '/api/admin/users', body);
        form.reset();
        const u = res.user || body;
        box.show('Created ' + (u.display_name || u.username) + ' (' + u.username + ').', 'success');
        onCreated(u);
      } catch (e) {
        if (!(e instanceof app.ApiError) || e.signedOut) return;
        if (e.status === 409 || e.code === 'username_taken') {
          username.setError(e.message || 'That username is taken.');
          username.input.focus();
        } else if (e.code === 'weak_password') {
          password.setError(e.message);
          password.input.focus();
        } else {
          box.show(e.message, 'error');
        }
      }
    });
  });
  return el('div', null, box.node, form);
}
