// pages/enroll.js — the only page a user whose role requires two-step
// verification sees until they have set it up (login answered
// must_enroll_totp). Not the account page's optional enrolment.

import { el } from '../dom.js';
import { totpSetup } from './totp-setup.js';

export async function render(root, app) {
  const holder = el('div');
  root.append(
    el('p', { class: 'lead' }, 'Your role at the practice requires two-step verification. ',
      'Set it up now to continue.'),
    holder);
  totpSetup(holder, app, async () => {
    let me = null;
    try {
      me = await app.api('GET', '/api/auth/me');
    } catch {
      // Enrolment was confirmed; the server says so again at the next sign-in.
    }
    app.shell.applyMe(me || { must_enroll_totp: false });
    await app.shell.loadManifest();
    app.shell.renderChrome();
    app.navigate('#/');
  }, 'h2');
}
