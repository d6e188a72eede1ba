// pages/activate.js — a new patient turns the activation code the practice
// gave them into an account by choosing a username and password
// (POST /api/auth/activate). Public. Not sign-in: it sends them there after.

import { el, field, messageBox, busy } from '../dom.js';
import { passwordFields } from './password-fields.js';

export async function render(root, app) {
  const box = messageBox();
  const code = field({
    label: 'Activation code', name: 'code', required: true, autocomplete: 'off',
    autocapitalize: 'characters', spellcheck: 'false', value: app.query.get('code') || '',
    hint: 'The code on the letter or email from the practice.',
  });
  const username = field({
    label: 'Choose a username', name: 'username', required: true, autocomplete: 'username',
    autocapitalize: 'none', spellcheck: 'false',
    hint: 'You will use it to sign in. Letters, digits, dots, dashes and underscores.',
  });
  const pw = passwordFields('Choose a password');
  const submit = el('button', { type: 'submit', class: 'button primary' }, 'Activate account');
  const form = el('form', { class: 'form narrow', novalidate: true },
    code.wrap, username.wrap, pw.wraps, el('div', { class: 'actions' }, submit));

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(submit, activate);
  });

  async function activate() {
    for (const f of [code, username]) f.setError(null);
    const c = code.input.value.trim();
    const u = username.input.value.trim();
    if (!c) { code.setError('Enter your activation code.'); code.input.focus(); return; }
    if (!u) { username.setError('Choose a username.'); username.input.focus(); return; }
    const p = pw.check();
    if (p === null) return;
    try {
      await app.api('POST', '/api/auth/activate', { code: c, username: u, password: p });
      app.navigate('#/login?' + new URLSearchParams({ reason: 'activated', username: u }).toString());
    } catch (e) {
      if (!(e instanceof app.ApiError)) throw e;
      if (e.status === 404 || e.code === 'invalid_code' || e.code === 'expired_code' || e.code === 'not_found') {
        code.setError('This activation code is not valid or has expired. Ask the practice for a new one.');
        code.input.focus();
      } else if (e.code === 'username_taken' || e.status === 409) {
        username.setError(e.message || 'That username is taken. Choose another.');
        username.input.focus();
      } else if (e.code === 'weak_password') {
        pw.setError(e.message);
      } else {
        box.show(e.message, 'error');
      }
    }
  }

  root.append(
    el('p', { class: 'lead' }, 'Use the activation code from the practice to set up your portal account.'),
    box.node, form,
    el('p', null, 'Already activated? ', el('a', { href: '#/login' }, 'Sign in'), '.'));
}
