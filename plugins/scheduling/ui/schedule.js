// schedule.js — the care team's schedule: a day or week per provider with
// its hours, blocked time and visits; approve or decline requests, mark
// visits arrived / checked in / seen / no-show, block time, and book a
// visit for a patient. Not the metrics (metrics.js).

import { messageBox, busy } from '/dom.js';
import {
  api, loadRefs, isoDate, addDays, slotPicker, select, input, showError, focusHeading,
  statusTag, timeOnly, dayTitle,
} from './common.js';

// What staff may do from each status: [value, label].
const ACTIONS = {
  pending: [['approve', 'Approve request'], ['decline', 'Decline request'], ['entered-in-error', 'Entered in error']],
  booked: [['arrived', 'Arrived'], ['checked-in', 'Checked in'], ['fulfilled', 'Seen (fulfilled)'],
    ['noshow', 'No-show'], ['cancel', 'Cancel visit'], ['entered-in-error', 'Entered in error']],
  arrived: [['checked-in', 'Checked in'], ['fulfilled', 'Seen (fulfilled)'], ['cancel', 'Cancel visit'],
    ['entered-in-error', 'Entered in error']],
  'checked-in': [['fulfilled', 'Seen (fulfilled)'], ['cancel', 'Cancel visit'], ['entered-in-error', 'Entered in error']],
  fulfilled: [['entered-in-error', 'Entered in error']],
  noshow: [['entered-in-error', 'Entered in error']],
  cancelled: [['entered-in-error', 'Entered in error']],
};

export async function render(root, app) {
  const refs = await loadRefs(app);
  const box = messageBox();
  const me = app.user;
  const mine = refs.providerById.get(me.id);
  const today = isoDate();

  // ---- the view
  const provSel = select(app, 'Provider', 'provider',
    [{ value: '', label: 'All providers' }, ...refs.providers.map((p) => ({ value: p.id, label: p.display_name }))],
    app.query.get('provider') || (mine ? mine.id : ''));
  const dateInp = input(app, 'Date', 'date', { type: 'date', value: app.query.get('date') || today, required: true });
  const viewSel = select(app, 'Show', 'view', [{ value: '1', label: 'One day' }, { value: '7', label: 'One week' }],
    app.query.get('days') === '7' ? '7' : '1');
  const show = app.el('button', { type: 'submit', class: 'button primary' }, 'Show schedule');
  const viewForm = app.el('form', { class: 'form inline', novalidate: true, 'aria-label': 'Schedule view' },
    provSel.wrap, dateInp.wrap, viewSel.wrap, app.el('div', { class: 'actions' }, show));
  const out = app.el('div', { class: 'schedule' });
  viewForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(show, () => load(true));
  });

  async function load(moveFocus) {
    box.hide();
    const q = new URLSearchParams({ date: dateInp.input.value || today, days: viewSel.input.value });
    if (provSel.input.value) q.set('provider', provSel.input.value);
    try {
      const res = await api(app, 'GET', '/schedule?' + q.toString());
      out.replaceChildren(...res.providers.map(providerBlock));
      if (!res.providers.length) out.append(app.el('p', null, 'No providers.'));
      app.announce('Schedule shown from ' + dayTitle(res.from) + '.');
      if (moveFocus) focusHeading(out.querySelector('h2'));
    } catch (e) {
      showError(app, box, e);
    }
  }

  function providerBlock(p) {
    const hid = 'prov-' + p.id;
    return app.el('section', { class: 'card', 'aria-labelledby': hid },
      app.el('h2', { id: hid }, p.display_name),
      p.days.map((d) => dayBlock(p, d)));
  }

  function dayBlock(p, d) {
    const hours = d.windows.length
      ? d.windows.map((w) => timeOnly(w.start) + '–' + timeOnly(w.end)).join(', ')
      : 'No hours';
    return app.el('div', { class: 'day' },
      app.el('h3', null, dayTitle(d.date)),
      app.el('p', { class: 'meta' }, 'Hours: ' + hours),
      d.blocks.length ? app.el('ul', { class: 'plain-list' }, d.blocks.map((b) => app.el('li', null,
        'Blocked ' + app.formatDateTime(b.start) + ' – ' + app.formatDateTime(b.end) +
          (b.reason ? ' (' + b.reason + ')' : '') + (b.provider_id ? '' : ' — whole practice') + ' ',
        app.el('button', {
          type: 'button', class: 'button small',
          onclick: (ev) => busy(ev.currentTarget, () => removeBlock(b)),
        }, 'Remove block', app.el('span', { class: 'visually-hidden' }, ' from ' + app.formatDateTime(b.start)))))) : null,
      d.appointments.length
        ? app.el('div', { class: 'table-wrap', role: 'region', tabindex: '0', 'aria-label': p.display_name + ', ' + dayTitle(d.date) + ' (table)' },
          app.el('table', null,
            app.el('caption', { class: 'visually-hidden' }, 'Visits with ' + p.display_name + ' on ' + dayTitle(d.date)),
            app.el('thead', null, app.el('tr', null, ['Time', 'Patient', 'Visit', 'Status', 'Action'].map((h) =>
              app.el('th', { scope: 'col' }, h)))),
            app.el('tbody', null, d.appointments.map(row))))
        : app.el('p', null, 'No visits.'));
  }

  function row(a) {
    const label = a.patient_name + ' at ' + timeOnly(a.start);
    const options = ACTIONS[a.status] || [];
    let cell = '—';
    if (options.length) {
      const id = 'act-' + a.id;
      const sel = app.el('select', { id }, options.map(([v, l]) => app.el('option', { value: v }, l)));
      const go = app.el('button', { type: 'button', class: 'button small' }, 'Apply',
        app.el('span', { class: 'visually-hidden' }, ' to ' + label));
      go.addEventListener('click', () => busy(go, () => act(a, sel.value)));
      cell = app.el('div', { class: 'row-actions' },
        app.el('label', { for: id, class: 'visually-hidden' }, 'Action for ' + label), sel, go);
    }
    return app.el('tr', null,
      app.el('th', { scope: 'row' }, timeOnly(a.start) + '–' + timeOnly(a.end)),
      app.el('td', null, a.patient_name),
      app.el('td', null, a.type_name, a.self_booked ? app.el('span', { class: 'meta' }, ' (booked online)') : null),
      app.el('td', null, statusTag(app, a.status)),
      app.el('td', null, cell));
  }

  async function act(a, what) {
    box.hide();
    try {
      const path = '/appointments/' + a.id + '/';
      if (what === 'approve' || what === 'decline' || what === 'cancel') await api(app, 'POST', path + what, {});
      else await api(app, 'POST', path + 'status', { status: what });
      box.show('Updated ' + a.patient_name + ' at ' + timeOnly(a.start) + '.', 'success');
      await load(false);
    } catch (e) {
      showError(app, box, e);
    }
  }

  async function removeBlock(b) {
    try {
      await api(app, 'DELETE', '/blocks/' + b.id);
      box.show('Block removed.', 'success');
      await load(false);
    } catch (e) {
      showError(app, box, e);
    }
  }

  // ---- block time
  const blockBox = messageBox();
  const blockProv = select(app, 'Provider', 'block-provider',
    me.role === 'physician'
      ? (mine ? [{ value: mine.id, label: mine.display_name }] : [])
      : [{ value: '', label: 'Whole practice' }, ...refs.providers.map((p) => ({ value: p.id, label: p.display_name }))],
    mine ? mine.id : '');
  const times = [];
  for (let m = 0; m <= 1440; m += 15) {
    const hhmm = String(Math.floor(m / 60)).padStart(2, '0') + ':' + String(m % 60).padStart(2, '0');
    times.push({ value: hhmm, label: hhmm });
  }
  const blockDay = input(app, 'Day', 'block-day', { type: 'date', value: today, required: true }, 'Times are in your computer\'s time zone.');
  const blockFrom = select(app, 'From', 'block-from', times.slice(0, -1), '12:00');
  const blockTo = select(app, 'Until', 'block-to', times.slice(1), '13:00');
  const blockReason = input(app, 'Reason', 'block-reason', { type: 'text', maxlength: 200 });
  const blockGo = app.el('button', { type: 'submit', class: 'button' }, 'Block time');
  const blockForm = app.el('form', { class: 'form', novalidate: true, 'aria-labelledby': 'block-h' },
    blockProv.wrap, blockDay.wrap, blockFrom.wrap, blockTo.wrap, blockReason.wrap, app.el('div', { class: 'actions' }, blockGo));
  blockForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(blockGo, async () => {
      blockBox.hide();
      const day = blockDay.input.value;
      const f = new Date(day + 'T' + blockFrom.input.value);
      const t = blockTo.input.value === '24:00' ? new Date(addDays(day, 1) + 'T00:00') : new Date(day + 'T' + blockTo.input.value);
      if (!day || Number.isNaN(f.getTime()) || Number.isNaN(t.getTime()) || t <= f) {
        blockBox.show('Choose a day, and an end after the start.', 'error');
        (day ? blockTo.input : blockDay.input).focus();
        return;
      }
      const body = { start: f.toISOString().replace(/\.\d{3}Z$/, 'Z'), end: t.toISOString().replace(/\.\d{3}Z$/, 'Z') };
      if (blockProv.input.value) body.provider_id = Number(blockProv.input.value);
      if (blockReason.input.value.trim()) body.reason = blockReason.input.value.trim();
      try {
        const res = await api(app, 'POST', '/blocks', body);
        const n = res.conflicts.length;
        blockBox.show('Time blocked.' + (n ? ' ' + n + ' booked visit' + (n === 1 ? ' falls' : 's fall') +
          ' in it: please move ' + (n === 1 ? 'it' : 'them') + '.' : ''), n ? 'info' : 'success');
        await load(false);
      } catch (e) {
        showError(app, blockBox, e);
      }
    });
  });

  // ---- book for a patient
  const bookBox = messageBox();
  const patientQ = input(app, 'Patient name', 'patient-q', { type: 'search', autocomplete: 'off' });
  const patientSel = select(app, 'Patient', 'patient', [], '');
  patientSel.wrap.hidden = true;
  const findPatient = app.el('button', { type: 'button', class: 'button' }, 'Find patient');
  findPatient.addEventListener('click', () => busy(findPatient, async () => {
    bookBox.hide();
    try {
      const res = await app.api('GET', '/api/patients?' + new URLSearchParams({ q: patientQ.input.value.trim() }));
      const list = res.patients || [];
      patientSel.input.replaceChildren(...list.map((p) => app.el('option', { value: String(p.id) }, p.display_name)));
      patientSel.wrap.hidden = !list.length;
      app.announce(list.length ? list.length + ' patients found.' : 'No patients match.');
      if (list.length) patientSel.input.focus();
      else bookBox.show('No patients match.', 'info');
    } catch (e) {
      showError(app, bookBox, e);
    }
  }));
  const typeSel = select(app, 'Type of visit', 'book-type',
    refs.types.map((t) => ({ value: t.id, label: t.name + ' (' + t.duration_minutes + ' min)' })), refs.types[0] && refs.types[0].id);
  const bookProv = select(app, 'Provider', 'book-provider',
    [{ value: '', label: 'Any provider' }, ...refs.providers.map((p) => ({ value: p.id, label: p.display_name }))],
    mine ? mine.id : '');
  const bookDate = input(app, 'Earliest date', 'book-date', { type: 'date', value: today, min: today });
  const bookFind = app.el('button', { type: 'submit', class: 'button primary' }, 'Find open times');
  const bookSlots = app.el('div');
  const bookForm = app.el('form', { class: 'form', novalidate: true, 'aria-labelledby': 'book-h' },
    app.el('div', { class: 'field' }, patientQ.wrap, app.el('div', { class: 'actions' }, findPatient)),
    patientSel.wrap, typeSel.wrap, bookProv.wrap, bookDate.wrap, app.el('div', { class: 'actions' }, bookFind));
  bookForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(bookFind, async () => {
      bookBox.hide();
      if (!patientSel.input.value) {
        bookBox.show('Find and choose the patient first.', 'error');
        patientQ.input.focus();
        return;
      }
      const from = bookDate.input.value || today;
      const q = new URLSearchParams({ type: typeSel.input.value, from, to: addDays(from, 6) });
      if (bookProv.input.value) q.set('provider', bookProv.input.value);
      try {
        const { slots } = await api(app, 'GET', '/slots?' + q.toString());
        const h = app.el('h3', null, 'Open times');
        bookSlots.replaceChildren(h, slots.length
          ? slotPicker(app, slots.slice(0, 150), refs.providerById, bookFor)
          : app.el('p', null, 'No open times that week.'));
        focusHeading(h);
      } catch (e) {
        showError(app, bookBox, e);
      }
    });
  });

  async function bookFor(slot) {
    bookBox.hide();
    const opt = patientSel.input.selectedOptions[0];
    try {
      const { appointment: a } = await api(app, 'POST', '/appointments', {
        type_id: slot.type_id, provider_id: slot.provider_id, start: slot.start, patient_id: Number(patientSel.input.value),
      });
      const text = 'Booked ' + a.type_name + ' for ' + (opt ? opt.textContent : 'the patient') + ' with ' +
        a.provider_name + ', ' + app.formatDateTime(a.start) + '.';
      bookSlots.replaceChildren();
      bookBox.show(text, 'success');
      await load(false);
    } catch (e) {
      showError(app, bookBox, e);
    }
  }

  root.append(
    app.el('section', { class: 'card', 'aria-label': 'Choose what to show' }, viewForm),
    box.node, out,
    app.el('section', { class: 'card', 'aria-labelledby': 'block-h' },
      app.el('h2', { id: 'block-h' }, 'Block time'), blockForm, blockBox.node),
    app.el('section', { class: 'card', 'aria-labelledby': 'book-h' },
      app.el('h2', { id: 'book-h' }, 'Book for a patient'), bookForm, bookBox.node, bookSlots));
  await load(false);
}
