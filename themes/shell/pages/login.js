// pages/login.js — the sign-in form: username and password, then a second
// step asking for the authenticator code (or a recovery code) when the server
// answers totp_required. Shows why the user landed here (idle sign-out,
// activation done, signed out). Not the activation or registration forms.

import { el, field, messageBox, busy } from '../dom.js';

const REASONS = {
  idle: ['You were signed out after a period of inactivity. Please sign in again.', 'info'],
  ended: ['Your session has ended. Please sign in again.', 'info'],
  signedout: ['You have signed out.', 'success'],
  activated: ['Your account is active. Sign in with your new username and password.', 'success'],
  registered: ['Your account was created. You can sign in now.', 'success'],
};

export async function render(root, app) {
  const notice = app.query.get('reason');
  const box = messageBox();
  const username = field({
    label: 'Username', name: 'username', required: true, autocomplete: 'username',
    autocapitalize: 'none', spellcheck: 'false', value: app.query.get('username') || '',
  });
  const password = field({
    label: 'Password', name: 'password', type: 'password', required: true,
    autocomplete: 'current-password',
  });
  const totp = field({
    label: 'Verification code', name: 'totp', required: true, autocomplete: 'one-time-code',
    autocapitalize: 'none', spellcheck: 'false',
    hint: 'The 6-digit code from your authenticator app, or one of your recovery codes.',
  });
  totp.wrap.hidden = true;
  totp.input.required = false;
  const submit = el('button', { type: 'submit', class: 'button primary' }, 'Sign in');
  const form = el('form', { class: 'form narrow', novalidate: true },
    username.wrap, password.wrap, totp.wrap, el('div', { class: 'actions' }, submit));

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(submit, () => signIn());
  });

  async function signIn() {
    username.setError(null);
    password.setError(null);
    totp.setError(null);
    const u = username.input.value.trim();
    const p = password.input.value;
    const code = totp.input.value.replace(/\s+/g, '');
    if (!u) { username.setError('Enter your username.'); username.input.focus(); return; }
    if (!p) { password.setError('Enter your password.'); password.input.focus(); return; }
    if (!totp.wrap.hidden && !code) {
      totp.setError('Enter the code from your authenticator app.');
      totp.input.focus();
      return;
    }
    const body = { username: u, password: p };
    if (!totp.wrap.hidden) body.totp = code;
    box.show('Signing in…', 'info');
    try {
      const res = await app.api('POST', '/api/auth/login', body);
      box.hide();
      await app.shell.signedIn(res);
      app.navigate(res.must_enroll_totp ? '#/enroll' : app.shell.safeNext(app.query));
    } catch (e) {
      if (!(e instanceof app.ApiError)) throw e;
      failed(e);
    }
  }

  function failed(e) {
    if (e.code === 'totp_required' && totp.wrap.hidden) {
      totp.wrap.hidden = false;
      totp.input.required = true;
      box.show('Your password is correct. Now enter the code from your authenticator app.', 'info');
      totp.input.focus();
      return;
    }
    // With the code step open, the password was right a moment ago; the
    // server does not say which factor failed, but it is almost surely the code.
    if (!totp.wrap.hidden && e.status === 401) {
      box.show('That code was not accepted. Check your authenticator app and try again.', 'error');
      totp.input.value = '';
      totp.setError('Enter a current code or an unused recovery code.');
      totp.input.focus();
      return;
    }
    if (e.status === 429 || e.status === 503) {
      const wait = e.retryAfter ? ' Try again in ' + waitText(e.retryAfter) + '.' : ' Try again later.';
      box.show('Too many sign-in attempts.' + wait, 'error');
      return;
    }
    if (e.code === 'invalid_credentials' || e.status === 401) {
      box.show('The username or password is not correct.', 'error');
      password.input.value = '';
      password.input.focus();
      return;
    }
    box.show(e.message, 'error');
  }

  root.append(
    box.node,
    form,
    el('section', { class: 'aside', 'aria-labelledby': 'new-here' },
      el('h2', { id: 'new-here' }, 'New to the portal?'),
      el('p', null, 'If the practice gave you an activation code, ',
        el('a', { href: '#/activate' }, 'activate your account'), ' to choose a username and password.'),
      app.manifest.practice && app.manifest.practice.self_registration
        ? el('p', null, 'You can also ', el('a', { href: '#/register' }, 'create an account'), '.')
        : null),
  );
  // Shown a moment after the live regions exist, so screen readers hear it.
  if (notice && REASONS[notice]) setTimeout(() => box.show(REASONS[notice][0], REASONS[notice][1]), 100);
}

function waitText(s) {
  if (s < 90) return s + (s === 1 ? ' second' : ' seconds');
  const m = Math.ceil(s / 60);
  return m + ' minutes';
}
