// reminder.js — where a reminder's link leads (#/p/scheduling/reminder?
// token=...): shows the visit and lets the patient confirm or cancel it
// once. The token is single use; the server checks it and the cutoff.

import { messageBox, busy } from '/dom.js';
import { api, showError, focusHeading, statusTag, describe } from './common.js';

export async function render(root, app) {
  const token = app.query.get('token') || '';
  const box = messageBox();
  const path = '/reminders/' + encodeURIComponent(token);
  let info;
  try {
    info = await api(app, 'GET', path);
  } catch (e) {
    root.append(box.node);
    showError(app, box, e);
    return;
  }
  const a = info.appointment;
  const actions = app.el('div', { class: 'actions' });
  const facts = app.el('p', null, describe(app, a) + ' · ' + a.location + ' ', statusTag(app, a.status));

  async function act(which) {
    box.hide();
    try {
      const res = await api(app, 'POST', path + '/' + which, {});
      actions.replaceChildren();
      const h = app.el('h2', { id: 'rem-done' }, which === 'confirm' ? 'Thank you — see you then' : 'Visit cancelled');
      root.replaceChildren(h, app.el('p', null, describe(app, res.appointment)), box.node,
        app.el('p', null, app.el('a', { href: '#/p/scheduling/appointments' }, 'See my appointments')));
      app.announce(h.textContent);
      focusHeading(h);
    } catch (e) {
      showError(app, box, e);
    }
  }

  if (info.usable) {
    const yes = app.el('button', { type: 'button', class: 'button primary' }, 'Confirm I will come');
    const no = app.el('button', { type: 'button', class: 'button danger' }, 'Cancel this visit');
    yes.addEventListener('click', () => busy(yes, () => act('confirm')));
    no.addEventListener('click', () => busy(no, () => act('cancel')));
    actions.append(yes, no);
  } else {
    actions.append(app.el('p', null, 'This link has already been used or has expired. ',
      app.el('a', { href: '#/p/scheduling/appointments' }, 'See my appointments')));
  }
  root.append(app.el('section', { class: 'card', 'aria-labelledby': 'rem-h' },
    app.el('h2', { id: 'rem-h' }, 'Your visit'), facts,
    app.el('p', { class: 'hint' }, 'Online changes are possible up to ' + info.cutoff_hours + ' hours before the visit.'),
    actions), box.node);
}
