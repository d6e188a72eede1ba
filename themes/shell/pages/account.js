// pages/account.js — the signed-in user's own account: profile summary,
// password change, two-step verification (turn on with QR code and recovery
// codes, or off where the role allows) and the list of signed-in sessions
// with sign-out for each. Not other users' accounts (admin-accounts.js).

import { el, field, messageBox, busy, clear, dataTable, formatDateTime } from '../dom.js';
import { passwordFields } from './password-fields.js';
import { totpSetup } from './totp-setup.js';

const ROLE_NAMES = { patient: 'Patient', staff: 'Practice staff', physician: 'Physician', admin: 'Administrator' };

export async function render(root, app) {
  const user = app.user;
  const sessions = sessionsSection(app);
  root.append(
    section('profile', 'Profile', el('dl', { class: 'facts' },
      el('dt', null, 'Name'), el('dd', null, user.display_name || user.username),
      el('dt', null, 'Username'), el('dd', null, user.username),
      el('dt', null, 'Role'), el('dd', null, ROLE_NAMES[user.role] || user.role))),
    section('password', 'Change password', passwordForm(app, sessions.reload)),
    section('totp', 'Two-step verification', totpSection(app)),
    section('sessions', 'Where you are signed in', sessions.node),
  );
  await sessions.ready;
}

// "Firefox on Windows" from a User-Agent string; null when unsure.
function browserName(ua) {
  if (typeof ua !== 'string' || !ua) return null;
  const browser = /Edg\//.test(ua) ? 'Edge' : /OPR\//.test(ua) ? 'Opera' : /Firefox\//.test(ua) ? 'Firefox'
    : /Chrom(e|ium)\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : null;
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad|iPod/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows'
    : /Mac OS X|Macintosh/.test(ua) ? 'macOS' : /CrOS/.test(ua) ? 'ChromeOS' : /Linux/.test(ua) ? 'Linux' : null;
  if (browser && os) return browser + ' on ' + os;
  return browser || os;
}

function section(id, title, ...content) {
  return el('section', { class: 'card', 'aria-labelledby': id + '-h' },
    el('h2', { id: id + '-h' }, title), ...content);
}

function passwordForm(app, onChanged) {
  const box = messageBox();
  const current = field({
    label: 'Current password', name: 'current-password', type: 'password', required: true,
    autocomplete: 'current-password',
  });
  const pw = passwordFields('New password');
  const submit = el('button', { type: 'submit', class: 'button primary' }, 'Change password');
  const form = el('form', { class: 'form narrow', novalidate: true },
    current.wrap, pw.wraps, el('div', { class: 'actions' }, submit));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(submit, async () => {
      current.setError(null);
      box.hide();
      if (!current.input.value) {
        current.setError('Enter your current password.');
        current.input.focus();
        return;
      }
      const p = pw.check();
      if (p === null) return;
      try {
        const res = await app.api('POST', '/api/auth/password',
          { current_password: current.input.value, new_password: p });
        if (res && res.csrf_token) app.shell.applyMe({ csrf_token: res.csrf_token });
        current.input.value = '';
        pw.reset();
        box.show('Your password was changed. You were signed out everywhere else.', 'success');
        onChanged();
      } catch (e) {
        if (!(e instanceof app.ApiError) || e.signedOut) throw e;
        if (e.status === 401 || e.status === 403 || e.code === 'invalid_credentials') {
          current.setError('Your current password is not correct.');
          current.input.focus();
        } else if (e.status === 400 || e.status === 422) {
          pw.setError(e.message);
        } else {
          box.show(e.message, 'error');
        }
      }
    });
  });
  return el('div', null, box.node, form);
}

function totpSection(app) {
  const holder = el('div');
  const draw = () => {
    clear(holder);
    if (app.user.totp_enabled) holder.appendChild(totpOn(app, draw));
    else {
      const inner = el('div');
      holder.appendChild(inner);
      totpSetup(inner, app, () => {
        app.user.totp_enabled = true;
        draw();
        holder.querySelector('.status').focus();
      });
    }
  };
  draw();
  return holder;
}

function totpOn(app, redraw) {
  const box = messageBox();
  const password = field({
    label: 'Your password', name: 'totp-disable-password', type: 'password', required: true,
    autocomplete: 'current-password', hint: 'Needed to turn two-step verification off.',
  });
  const submit = el('button', { type: 'submit', class: 'button danger' }, 'Turn off two-step verification');
  const form = el('form', { class: 'form narrow', novalidate: true }, password.wrap, el('div', { class: 'actions' }, submit));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(submit, async () => {
      password.setError(null);
      if (!password.input.value) {
        password.setError('Enter your password.');
        password.input.focus();
        return;
      }
      try {
        await app.api('POST', '/api/auth/totp/disable', { password: password.input.value });
        app.user.totp_enabled = false;
        app.announce('Two-step verification is off.');
        redraw();
      } catch (e) {
        if (!(e instanceof app.ApiError) || e.signedOut) throw e;
        if (e.status === 403) box.show('Your role at the practice requires two-step verification, so it stays on.', 'error');
        else if (e.status === 401 || e.code === 'invalid_credentials') {
          password.setError('That password is not correct.');
          password.input.focus();
        } else box.show(e.message, 'error');
      }
    });
  });
  const details = el('details', null, el('summary', null, 'Turn off two-step verification'), box.node, form);
  return el('div', null,
    el('p', { class: 'status status-on', tabindex: '-1' }, 'Two-step verification is on.'),
    el('p', null, 'Each sign-in asks for a code from your authenticator app. If you lose the app, use one of your recovery codes.'),
    details);
}

function sessionsSection(app) {
  const box = messageBox();
  const holder = el('div', { class: 'sessions' });
  const load = async () => {
    try {
      const res = await app.api('GET', '/api/auth/sessions');
      draw(res.sessions || []);
    } catch (e) {
      if (!(e instanceof app.ApiError) || e.signedOut) return;
      box.show(e.message, 'error');
    }
  };
  const draw = (sessions) => {
    clear(holder);
    if (!sessions.length) {
      holder.appendChild(el('p', null, 'No sessions.'));
      return;
    }
    holder.appendChild(dataTable('Signed-in sessions', [
      {
        label: 'Device',
        cell: (s) => el('span', null, browserName(s.user_agent) || 'Unknown browser',
          s.client ? el('span', { class: 'meta' }, ' · ' + s.client) : null),
      },
      { label: 'Signed in', cell: (s) => formatDateTime(s.created_at) },
      { label: 'Last active', cell: (s) => formatDateTime(s.last_seen_at) },
      {
        label: 'Action',
        cell: (s) => s.current
          ? el('span', { class: 'tag' }, 'This session')
          : el('button', {
            type: 'button', class: 'button small',
            'aria-label': 'Sign out ' + (browserName(s.user_agent) || s.client || 'session') + ', last active ' + formatDateTime(s.last_seen_at),
            onclick: (ev) => busy(ev.currentTarget, () => revoke(s)),
          }, 'Sign out'),
      },
    ], sessions));
  };
  const revoke = async (s) => {
    try {
      await app.api('DELETE', '/api/auth/sessions/' + encodeURIComponent(s.id));
      await load();
      box.show('That session was signed out.', 'success');
      const h = document.getElementById('sessions-h');
      if (h) { h.setAttribute('tabindex', '-1'); h.focus(); }
    } catch (e) {
      if (!(e instanceof app.ApiError) || e.signedOut) return;
      box.show(e.message, 'error');
    }
  };
  return {
    ready: load(),
    node: el('div', null,
      el('p', null, 'If you see a device you do not recognise, sign it out and change your password.'),
      box.node, holder),
    reload: load,
  };
}
