// offer.js — where a waitlist offer's link leads (#/p/scheduling/offer?
// token=...): shows the freed time and takes it. The first patient to
// accept gets it; a later accept is told the slot was taken.

import { messageBox, busy } from '/dom.js';
import { api, showError, focusHeading, describe } from './common.js';

export async function render(root, app) {
  const token = app.query.get('token') || '';
  const box = messageBox();
  const path = '/offers/' + encodeURIComponent(token);
  let offer;
  try {
    offer = (await api(app, 'GET', path)).offer;
  } catch (e) {
    root.append(box.node);
    showError(app, box, e);
    return;
  }
  const open = offer.status === 'sent';
  const take = app.el('button', { type: 'button', class: 'button primary' }, 'Take this time');
  take.addEventListener('click', () => busy(take, async () => {
    box.hide();
    try {
      const { appointment } = await api(app, 'POST', path + '/accept', {});
      const h = app.el('h2', { id: 'offer-done' }, 'It is yours');
      root.replaceChildren(h, app.el('p', null, describe(app, appointment) + '.'),
        app.el('p', null, app.el('a', { href: '#/p/scheduling/appointments' }, 'See my appointments')));
      app.announce('Booked: ' + describe(app, appointment));
      focusHeading(h);
    } catch (e) {
      showError(app, box, e);
    }
  }));
  root.append(app.el('section', { class: 'card', 'aria-labelledby': 'offer-h' },
    app.el('h2', { id: 'offer-h' }, offer.type_name + ' with ' + offer.provider_name),
    app.el('p', null, app.formatDateTime(offer.start)),
    open
      ? app.el('p', { class: 'hint' }, 'This offer is open until ' + app.formatDateTime(offer.expires_at) +
        '. Other patients may have the same offer: the first to take it gets it.')
      : app.el('p', null, offer.status === 'accepted' ? 'You took this time.' : 'This offer is no longer open.'),
    open ? app.el('div', { class: 'actions' }, take) : null), box.node);
}
