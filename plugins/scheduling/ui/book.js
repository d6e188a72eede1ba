// book.js — the patient's booking page: find open times by type of visit,
// provider and date, confirm one, and (when nothing suits) join the
// waitlist. With ?reschedule=ID it moves that appointment instead of
// booking a new one. Not the list of the patient's visits
// (appointments.js).

import { messageBox, busy } from '/dom.js';
import {
  api, loadRefs, isoDate, addDays, slotPicker, select, input, showError,
  focusHeading, describe, dayTitle, dayKey,
} from './common.js';

export async function render(root, app) {
  const refs = await loadRefs(app);
  const moveId = app.query.get('reschedule');
  const moving = moveId
    ? (await api(app, 'GET', '/appointments/' + encodeURIComponent(moveId))).appointment : null;
  const types = refs.types.filter((t) => t.self_bookable || (moving && t.id === moving.type_id));
  const today = isoDate();
  const box = messageBox();

  if (!types.length) {
    root.append(app.el('p', null, 'No visits can be booked online right now. Please call the practice.'));
    return;
  }

  const typeSel = select(app, 'Type of visit', 'type',
    types.map((t) => ({ value: t.id, label: t.name + ' (' + t.duration_minutes + ' min)' })),
    moving ? moving.type_id : (app.query.get('type') || types[0].id));
  const provSel = select(app, 'Provider', 'provider', [], '');
  const fromInp = input(app, 'Earliest date', 'from', { type: 'date', value: app.query.get('date') || today, min: today, required: true });
  const find = app.el('button', { type: 'submit', class: 'button primary' }, 'Find open times');
  if (moving) typeSel.input.disabled = true;

  function fillProviders() {
    const typeId = Number(typeSel.input.value);
    const t = refs.typeById.get(typeId);
    const keep = provSel.input.value || (moving ? String(moving.provider_id) : '');
    provSel.input.replaceChildren(app.el('option', { value: '' }, 'Any provider'),
      ...refs.providers.filter((p) => !t || p.type_ids.includes(typeId)).map((p) =>
        app.el('option', { value: String(p.id), selected: String(p.id) === keep }, p.display_name)));
  }
  fillProviders();
  typeSel.input.addEventListener('change', fillProviders);

  const form = app.el('form', { class: 'form', novalidate: true, 'aria-labelledby': 'find-h' },
    typeSel.wrap, provSel.wrap, fromInp.wrap, app.el('div', { class: 'actions' }, find));
  const results = app.el('section', { class: 'card', 'aria-labelledby': 'results-h', hidden: true });
  const confirm = app.el('section', { class: 'card', 'aria-labelledby': 'confirm-h', hidden: true });
  const done = app.el('section', { class: 'card', 'aria-labelledby': 'done-h', hidden: true });

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(find, search);
  });

  async function search() {
    box.hide();
    confirm.hidden = true;
    const from = fromInp.input.value || today;
    if (from < today) {
      box.show('Choose today or a later date.', 'error');
      fromInp.input.focus();
      return;
    }
    const q = new URLSearchParams({ type: typeSel.input.value, from, to: addDays(from, 13) });
    if (provSel.input.value) q.set('provider', provSel.input.value);
    try {
      const { slots } = await api(app, 'GET', '/slots?' + q.toString());
      const h = app.el('h2', { id: 'results-h' }, 'Open times');
      results.replaceChildren(h, slots.length
        ? slotPicker(app, slots.slice(0, 200), refs.providerById, choose)
        : app.el('p', null, 'No open times in the two weeks from ' + dayTitle(from) +
          '. Try a later date, another provider, or join the waitlist below.'));
      results.hidden = false;
      app.announce(slots.length ? slots.length + ' open times found.' : 'No open times found.');
      focusHeading(h);
    } catch (e) {
      showError(app, box, e);
    }
  }

  function choose(slot) {
    const t = refs.typeById.get(slot.type_id);
    const p = refs.providerById.get(slot.provider_id);
    const h = app.el('h2', { id: 'confirm-h' }, moving ? 'Move your visit?' : 'Book this visit?');
    const ok = app.el('button', { type: 'button', class: 'button primary' }, moving ? 'Move my visit' : 'Book');
    const back = app.el('button', { type: 'button', class: 'button' }, 'Choose another time');
    ok.addEventListener('click', () => busy(ok, () => book(slot)));
    back.addEventListener('click', () => {
      confirm.hidden = true;
      focusHeading(results.querySelector('h2'));
    });
    confirm.replaceChildren(...[h,
      app.el('dl', { class: 'facts' },
        app.el('dt', null, 'Visit'), app.el('dd', null, t ? t.name : ''),
        app.el('dt', null, 'With'), app.el('dd', null, p ? p.display_name : ''),
        app.el('dt', null, 'When'), app.el('dd', null, app.formatDateTime(slot.start)),
        app.el('dt', null, 'Where'), app.el('dd', null, slot.location || '')),
      moving ? app.el('p', null, 'Your current visit (' + describe(app, moving) + ') will be released.') : null,
      t && t.needs_approval && !moving
        ? app.el('p', null, 'This is a request: the practice confirms it and lets you know.') : null,
      app.el('div', { class: 'actions' }, ok, back)].filter(Boolean));
    confirm.hidden = false;
    focusHeading(h);
  }

  async function book(slot) {
    box.hide();
    try {
      const res = moving
        ? await api(app, 'POST', '/appointments/' + moving.id + '/reschedule', { start: slot.start, provider_id: slot.provider_id })
        : await api(app, 'POST', '/appointments', { type_id: slot.type_id, provider_id: slot.provider_id, start: slot.start });
      const a = res.appointment;
      const text = a.status === 'pending'
        ? 'Request sent: ' + describe(app, a) + '. The practice will confirm it.'
        : (moving ? 'Visit moved: ' : 'Visit booked: ') + describe(app, a) + '.';
      confirm.hidden = true;
      results.hidden = true;
      const h = app.el('h2', { id: 'done-h' }, a.status === 'pending' ? 'Request sent' : 'All set');
      done.replaceChildren(h, app.el('p', null, text),
        app.el('p', null, app.el('a', { href: '#/p/scheduling/appointments' }, 'See my appointments')));
      done.hidden = false;
      app.announce(text);
      focusHeading(h);
    } catch (e) {
      if (!showError(app, box, e)) return;
      if (e.status === 409) await search();
    }
  }

  // ---- waitlist
  const wlBox = messageBox();
  const wlList = app.el('div');
  const wlType = select(app, 'Type of visit', 'wl-type',
    types.map((t) => ({ value: t.id, label: t.name })), moving ? moving.type_id : types[0].id);
  const wlProv = select(app, 'Provider', 'wl-provider',
    [{ value: '', label: 'Any provider' }, ...refs.providers.map((p) => ({ value: p.id, label: p.display_name }))],
    moving ? moving.provider_id : '');
  const wlFrom = input(app, 'From', 'wl-from', { type: 'date', value: today, min: today });
  const wlTo = input(app, 'Until', 'wl-to', { type: 'date', value: moving ? dayKey(moving.start) : addDays(today, 30), min: today });
  const wlJoin = app.el('button', { type: 'submit', class: 'button' }, 'Join the waitlist');
  if (moving) wlType.input.disabled = true;
  const wlForm = app.el('form', { class: 'form', novalidate: true, 'aria-labelledby': 'wl-h' },
    wlType.wrap, wlProv.wrap, wlFrom.wrap, wlTo.wrap, app.el('div', { class: 'actions' }, wlJoin));
  wlForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(wlJoin, async () => {
      wlBox.hide();
      const body = { type_id: Number(wlType.input.value), from: wlFrom.input.value, to: wlTo.input.value };
      if (wlProv.input.value) body.provider_id = Number(wlProv.input.value);
      if (moving) body.appointment_id = moving.id;
      try {
        await api(app, 'POST', '/waitlist', body);
        wlBox.show('You are on the waitlist. We will message you when a time frees up.', 'success');
        await listWaitlist();
      } catch (e) {
        showError(app, wlBox, e);
      }
    });
  });

  async function listWaitlist() {
    try {
      const { entries } = await api(app, 'GET', '/waitlist');
      wlList.replaceChildren(entries.length
        ? app.el('ul', { class: 'plain-list' }, entries.map((w) => app.el('li', null,
          w.type_name + (w.provider_name ? ' with ' + w.provider_name : ' with any provider') +
            ', ' + app.formatDate(w.from + 'T12:00:00Z') + ' to ' + app.formatDate(w.to + 'T12:00:00Z') + ' ',
          app.el('button', {
            type: 'button', class: 'button small',
            onclick: (ev) => busy(ev.currentTarget, async () => {
              try {
                await api(app, 'DELETE', '/waitlist/' + w.id);
                wlBox.show('You left the waitlist for ' + w.type_name + '.', 'success');
                await listWaitlist();
              } catch (e) {
                showError(app, wlBox, e);
              }
            }),
          }, 'Leave', app.el('span', { class: 'visually-hidden' }, ' the waitlist for ' + w.type_name)))))
        : app.el('p', null, 'You are not on the waitlist.'));
    } catch (e) {
      showError(app, wlBox, e);
    }
  }

  if (moving) root.append(app.el('p', { class: 'lead' }, 'Choose a new time for: ' + describe(app, moving) + '.'));
  root.append(
    app.el('section', { class: 'card', 'aria-labelledby': 'find-h' },
      app.el('h2', { id: 'find-h' }, moving ? 'Find a new time' : 'Find a time'), form),
    box.node, results, confirm, done,
    app.el('section', { class: 'card', 'aria-labelledby': 'wl-h' },
      app.el('h2', { id: 'wl-h' }, 'Waitlist'),
      app.el('p', null, moving
        ? 'Nothing earlier? Join the waitlist and we will offer you an earlier time if one frees up.'
        : 'Nothing suits? Join the waitlist and we will offer you a time if one frees up.'),
      wlForm, wlBox.node, wlList));
  await listWaitlist();
}
