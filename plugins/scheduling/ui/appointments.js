// appointments.js — the patient's visits: upcoming ones with cancel and
// reschedule, and past ones. Booking new visits is book.js.

import { messageBox, busy, dataTable } from '/dom.js';
import { api, statusTag, showError, focusHeading, describe } from './common.js';

export async function render(root, app) {
  const box = messageBox();
  const upcoming = app.el('section', { class: 'card', 'aria-labelledby': 'up-h' });
  const past = app.el('section', { class: 'card', 'aria-labelledby': 'past-h' });

  async function load() {
    const [u, p] = await Promise.all([
      api(app, 'GET', '/appointments?scope=upcoming&limit=100'),
      api(app, 'GET', '/appointments?scope=past&limit=50'),
    ]);
    const live = u.appointments.filter((a) => a.status !== 'cancelled' && a.status !== 'entered-in-error');
    upcoming.replaceChildren(app.el('h2', { id: 'up-h' }, 'Upcoming'),
      live.length
        ? app.el('ul', { class: 'plain-list' }, live.map(item))
        : app.el('p', null, 'No upcoming visits. ',
          app.el('a', { href: '#/p/scheduling/book' }, 'Book a visit')));
    past.replaceChildren(app.el('h2', { id: 'past-h' }, 'Past and cancelled'),
      dataTable('Past and cancelled visits', [
        { label: 'When', cell: (a) => app.formatDateTime(a.start) },
        { label: 'Visit', cell: (a) => a.type_name },
        { label: 'With', cell: (a) => a.provider_name },
        { label: 'Status', cell: (a) => statusTag(app, a.status) },
      ], [...u.appointments.filter((a) => a.status === 'cancelled'), ...p.appointments]));
  }

  function item(a) {
    const changeable = a.status === 'booked' || a.status === 'pending';
    const actions = app.el('div', { class: 'row-actions' });
    const li = app.el('li', { class: 'card' },
      app.el('h3', null, a.type_name),
      app.el('p', null, app.formatDateTime(a.start), ' · ', a.provider_name, ' · ', a.location),
      app.el('p', null, statusTag(app, a.status), a.confirmed ? ' Confirmed by you.' : ''),
      actions);
    if (changeable) {
      actions.append(
        app.el('button', {
          type: 'button', class: 'button small',
          onclick: () => app.navigate('#/p/scheduling/book?reschedule=' + a.id),
        }, 'Reschedule', app.el('span', { class: 'visually-hidden' }, ' ' + describe(app, a))),
        app.el('button', {
          type: 'button', class: 'button small danger',
          onclick: () => askCancel(a, li, actions),
        }, 'Cancel', app.el('span', { class: 'visually-hidden' }, ' ' + describe(app, a))));
    }
    return li;
  }

  function askCancel(a, li, actions) {
    const id = 'reason-' + a.id;
    const reason = app.el('textarea', { id, rows: 2, maxlength: 500 });
    const yes = app.el('button', { type: 'button', class: 'button danger' }, 'Yes, cancel this visit');
    const no = app.el('button', { type: 'button', class: 'button' }, 'Keep it');
    const h = app.el('h4', null, 'Cancel ' + describe(app, a) + '?');
    const panel = app.el('div', { class: 'form', role: 'group', 'aria-label': 'Cancel this visit' },
      h, app.el('div', { class: 'field' },
        app.el('label', { for: id }, 'Reason', app.el('span', { class: 'optional' }, ' (optional)')), reason),
      app.el('div', { class: 'actions' }, yes, no));
    actions.hidden = true;
    li.appendChild(panel);
    no.addEventListener('click', () => {
      panel.remove();
      actions.hidden = false;
      actions.querySelector('button').focus();
    });
    yes.addEventListener('click', () => busy(yes, async () => {
      box.hide();
      try {
        const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
        await api(app, 'POST', '/appointments/' + a.id + '/cancel', body);
        box.show('Visit cancelled: ' + describe(app, a) + '.', 'success');
        await load();
        focusHeading(upcoming.querySelector('h2'));
      } catch (e) {
        showError(app, box, e);
      }
    }));
    focusHeading(h);
  }

  root.append(
    app.el('p', null, app.el('a', { href: '#/p/scheduling/book', class: 'button primary' }, 'Book a visit')),
    box.node, upcoming, past);
  try {
    await load();
  } catch (e) {
    showError(app, box, e);
  }
}
