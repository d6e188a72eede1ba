// metrics.js — schedule figures for the care team: no-show rate per
// provider per month, the share of visits patients booked themselves, how
// full the schedule was, and waitlist offers sent and accepted.

import { messageBox, busy, dataTable } from '/dom.js';
import { api, isoDate, addDays, input, showError, focusHeading } from './common.js';

const pct = (x) => (Math.round(x * 1000) / 10).toLocaleString() + ' %';

export async function render(root, app) {
  const box = messageBox();
  const today = isoDate();
  const from = input(app, 'From', 'from', { type: 'date', value: app.query.get('from') || addDays(today, -180), required: true });
  const to = input(app, 'To', 'to', { type: 'date', value: app.query.get('to') || today, required: true });
  const go = app.el('button', { type: 'submit', class: 'button primary' }, 'Show');
  const form = app.el('form', { class: 'form inline', novalidate: true, 'aria-label': 'Date range' },
    from.wrap, to.wrap, app.el('div', { class: 'actions' }, go));
  const out = app.el('div');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(go, () => load(true));
  });

  async function load(moveFocus) {
    box.hide();
    try {
      const m = await api(app, 'GET', '/metrics?' + new URLSearchParams({ from: from.input.value, to: to.input.value }));
      const h = app.el('h2', { id: 'm-summary' }, 'Summary');
      out.replaceChildren(
        app.el('section', { class: 'card', 'aria-labelledby': 'm-summary' }, h,
          app.el('dl', { class: 'facts' },
            app.el('dt', null, 'Visits booked by patients online'),
            app.el('dd', null, m.self_booked.self_booked + ' of ' + m.self_booked.total + ' (' + pct(m.self_booked.share) + ')'),
            app.el('dt', null, 'Schedule filled'),
            app.el('dd', null, m.fill_rate.booked_minutes + ' of ' + m.fill_rate.available_minutes + ' minutes (' + pct(m.fill_rate.rate) + ')'),
            app.el('dt', null, 'Waitlist offers'),
            app.el('dd', null, m.waitlist.offers_sent + ' sent, ' + m.waitlist.offers_accepted + ' accepted (' + pct(m.waitlist.acceptance_rate) + ')'))),
        app.el('section', { class: 'card', 'aria-labelledby': 'm-noshow' },
          app.el('h2', { id: 'm-noshow' }, 'No-shows per provider and month'),
          m.noshow_rate.length ? dataTable('No-shows per provider and month', [
            { label: 'Month', cell: (r) => r.month },
            { label: 'Provider', cell: (r) => r.provider_name },
            { label: 'Visits due', cell: (r) => String(r.visits) },
            { label: 'No-shows', cell: (r) => String(r.noshows) },
            { label: 'Rate', cell: (r) => pct(r.rate) },
          ], m.noshow_rate) : app.el('p', null, 'No past visits in this range.')),
        app.el('section', { class: 'card', 'aria-labelledby': 'm-fill' },
          app.el('h2', { id: 'm-fill' }, 'Fill rate per provider'),
          dataTable('Fill rate per provider', [
            { label: 'Provider', cell: (r) => r.provider_name },
            { label: 'Hours offered', cell: (r) => (r.available_minutes / 60).toFixed(1) },
            { label: 'Hours booked', cell: (r) => (r.booked_minutes / 60).toFixed(1) },
            { label: 'Filled', cell: (r) => pct(r.rate) },
          ], m.fill_rate.by_provider)));
      app.announce('Metrics from ' + m.from + ' to ' + m.to + ' shown.');
      if (moveFocus) focusHeading(h);
    } catch (e) {
      showError(app, box, e);
    }
  }

  root.append(app.el('section', { class: 'card', 'aria-label': 'Choose the dates' }, form), box.node, out);
  await load(false);
}
