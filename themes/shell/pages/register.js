// pages/register.js — self-registration for practices that allow it
// (POST /api/auth/register answers 404 when they do not). Public. Not
// activation with a code from the practice: that is pages/activate.js.

import { el, field, messageBox, busy } from '../dom.js';
import { passwordFields } from './password-fields.js';

export async function render(root, app) {
  const box = messageBox();
  const name = field({ label: 'Your full name', name: 'display_name', required: true, autocomplete: 'name' });
  const email = field({
    label: 'Email', name: 'email', type: 'email', autocomplete: 'email', required: false,
    hint: 'For reminders and account recovery.',
  });
  const username = field({
    label: 'Choose a username', name: 'username', required: true, autocomplete: 'username',
    autocapitalize: 'none', spellcheck: 'false',
  });
  const pw = passwordFields('Choose a password');
  const submit = el('button', { type: 'submit', class: 'button primary' }, 'Create account');
  const form = el('form', { class: 'form narrow', novalidate: true },
    name.wrap, email.wrap, username.wrap, pw.wraps, el('div', { class: 'actions' }, submit));

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(submit, register);
  });

  async function register() {
    for (const f of [name, email, username]) f.setError(null);
    const body = {
      display_name: name.input.value.trim(),
      username: username.input.value.trim(),
    };
    if (!body.display_name) { name.setError('Enter your name.'); name.input.focus(); return; }
    const mail = email.input.value.trim();
    if (mail && !email.input.checkValidity()) { email.setError('Enter a valid email address.'); email.input.focus(); return; }
    if (mail) body.email = mail;
    if (!body.username) { username.setError('Choose a username.'); username.input.focus(); return; }
    const p = pw.check();
    if (p === null) return;
    body.password = p;
    try {
      await app.api('POST', '/api/auth/register', body);
      app.navigate('#/login?' + new URLSearchParams({ reason: 'registered', username: body.username }).toString());
    } catch (e) {
      if (!(e instanceof app.ApiError)) throw e;
      if (e.status === 404) {
        box.show('This practice does not offer online registration. Ask the practice for an activation code.', 'error');
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

  root.append(box.node, form,
    el('p', null, 'Have an activation code? ', el('a', { href: '#/activate' }, 'Activate your account'), '. ',
      'Already registered? ', el('a', { href: '#/login' }, 'Sign in'), '.'));
}
