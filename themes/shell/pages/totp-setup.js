// pages/totp-setup.js — the two-step verification enrolment steps shared by
// the account page and the forced enrolment page: start (POST
// /api/auth/totp/enroll), scan the QR code or type the key, confirm a code
// (POST /api/auth/totp/confirm), then see the recovery codes once and say they
// are stored. Not disabling two-step verification (pages/account.js does).

import { el, field, messageBox, busy, clear } from '../dom.js';

function svgDataUri(svg) {
  const bytes = new TextEncoder().encode(svg);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return 'data:image/svg+xml;base64,' + btoa(bin);
}

function groupKey(secret) {
  return String(secret).replace(/\s+/g, '').replace(/(.{4})(?=.)/g, '$1 ');
}

// Renders the enrolment into container; onDone() runs after the user confirms
// they stored the recovery codes. headingLevel: 'h2' or 'h3' for the steps.
export function totpSetup(container, app, onDone, headingLevel = 'h3') {
  const box = messageBox();
  const start = el('button', { type: 'button', class: 'button primary' }, 'Set up two-step verification');
  const body = el('div', { class: 'totp-setup' },
    el('p', null, 'Two-step verification asks for a code from an authenticator app on your phone ',
      'each time you sign in, so a stolen password is not enough to open your records.'),
    el('div', { class: 'actions' }, start));
  clear(container);
  container.append(box.node, body);
  start.addEventListener('click', () => busy(start, begin));

  async function begin() {
    box.hide();
    let enrol;
    try {
      enrol = await app.api('POST', '/api/auth/totp/enroll', {});
    } catch (e) {
      if (!(e instanceof app.ApiError)) throw e;
      box.show(e.message, 'error');
      return;
    }
    showScan(enrol);
  }

  function showScan(enrol) {
    const code = field({
      label: 'Code from the app', name: 'totp-code', required: true, autocomplete: 'one-time-code',
      inputmode: 'numeric', maxlength: 6, pattern: '[0-9]{6}',
      hint: 'Six digits. A new code appears every 30 seconds.',
    });
    const confirm = el('button', { type: 'submit', class: 'button primary' }, 'Confirm and turn on');
    const form = el('form', { class: 'form', novalidate: true }, code.wrap, el('div', { class: 'actions' }, confirm));
    const stepId = 'totp-scan';
    clear(body);
    body.append(
      el(headingLevel, { id: stepId, tabindex: '-1' }, 'Scan the code with your authenticator app'),
      el('ol', { class: 'steps' },
        el('li', null, 'Open an authenticator app on your phone (for example FreeOTP, Aegis, Google Authenticator or Microsoft Authenticator).'),
        el('li', null, 'Add an account and scan this QR code, or type the key shown under it.'),
        el('li', null, 'Enter the six-digit code the app shows.')),
      el('figure', { class: 'qr' },
        el('img', {
          src: svgDataUri(enrol.qr_svg || ''), width: '200', height: '200',
          alt: 'QR code for adding this account to an authenticator app. If you cannot scan it, type the key shown below.',
        }),
        el('figcaption', null, 'Key: ', el('code', { class: 'secret' }, groupKey(enrol.secret)))),
      enrol.otpauth_uri
        ? el('p', null, 'On this phone? ', el('a', { href: enrol.otpauth_uri }, 'Open in your authenticator app'), '.')
        : null,
      form);
    body.querySelector('#' + stepId).focus();
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(confirm, async () => {
        code.setError(null);
        const v = code.input.value.replace(/\s+/g, '');
        if (!/^[0-9]{6}$/.test(v)) {
          code.setError('Enter the six digits the app shows.');
          code.input.focus();
          return;
        }
        try {
          const res = await app.api('POST', '/api/auth/totp/confirm', { code: v });
          showCodes(res.recovery_codes || []);
        } catch (e) {
          if (!(e instanceof app.ApiError)) throw e;
          if (e.status === 400 || e.status === 401 || e.status === 422) {
            code.setError('That code was not accepted. Wait for a new code in the app and try again.');
            code.input.value = '';
            code.input.focus();
          } else {
            box.show(e.message, 'error');
          }
        }
      });
    });
  }

  function showCodes(codes) {
    const stored = el('input', { type: 'checkbox', id: 'codes-stored', name: 'codes-stored' });
    const err = el('p', { class: 'field-error', id: 'codes-stored-err', hidden: true });
    const done = el('button', { type: 'submit', class: 'button primary' }, 'Done');
    const form = el('form', { class: 'form', novalidate: true },
      el('div', { class: 'check' }, stored, el('label', { for: 'codes-stored' }, 'I have stored my recovery codes somewhere safe')),
      err, el('div', { class: 'actions' }, done));
    clear(body);
    body.append(
      el(headingLevel, { id: 'totp-codes', tabindex: '-1' }, 'Two-step verification is on. Save your recovery codes'),
      el('p', null, 'If you lose your phone, each of these codes lets you sign in once instead of an app code. ',
        'They are shown only now. Print them or keep them in a password manager.'),
      el('ol', { class: 'recovery-codes', 'aria-label': 'Recovery codes' },
        codes.map((c) => el('li', null, el('code', null, c)))),
      form);
    body.querySelector('#totp-codes').focus();
    app.announce('Two-step verification is on.');
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!stored.checked) {
        err.textContent = 'Please store the codes first, then tick the box.';
        err.hidden = false;
        stored.setAttribute('aria-invalid', 'true');
        stored.setAttribute('aria-describedby', 'codes-stored-err');
        stored.focus();
        return;
      }
      onDone();
    });
  }
}
