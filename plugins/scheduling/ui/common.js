// common.js — helpers the scheduling pages share: reference data (types,
// providers), dates in the viewer's calendar, slot grouping, the slot
// picker and the wording of statuses. Not a page: the shell never loads it
// directly, pages import it.

const BASE = '/api/scheduling';

export const api = (app, method, path, body) => app.api(method, BASE + path, body);

// {types, providers, typeById, providerById}
export async function loadRefs(app) {
  const [t, p] = await Promise.all([api(app, 'GET', '/types'), api(app, 'GET', '/providers')]);
  const typeById = new Map(t.types.map((x) => [x.id, x]));
  const providerById = new Map(p.providers.map((x) => [x.id, x]));
  return { types: t.types, providers: p.providers, typeById, providerById };
}

const pad = (n) => String(n).padStart(2, '0');

// "YYYY-MM-DD" of a Date (or now) in the viewer's calendar.
export function isoDate(d = new Date()) {
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
}

export function addDays(iso, n) {
  const [y, m, d] = iso.split('-').map(Number);
  const x = new Date(y, m - 1, d + n);
  return isoDate(x);
}

export function dayKey(iso) {
  return isoDate(new Date(iso));
}

// "Tuesday 1 December" for a YYYY-MM-DD key.
export function dayTitle(key) {
  const [y, m, d] = key.split('-').map(Number);
  return new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long' })
    .format(new Date(y, m - 1, d));
}

export function timeOnly(iso) {
  return new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' }).format(new Date(iso));
}

export const STATUS_TEXT = {
  pending: 'Requested — waiting for the practice',
  booked: 'Booked',
  arrived: 'Arrived',
  'checked-in': 'Checked in',
  fulfilled: 'Seen',
  cancelled: 'Cancelled',
  noshow: 'Missed (no-show)',
  'entered-in-error': 'Entered in error',
};

export function statusTag(app, status) {
  const kind = status === 'booked' || status === 'fulfilled' ? 'tag tag-ok'
    : status === 'pending' ? 'tag tag-new'
      : status === 'cancelled' || status === 'noshow' ? 'tag tag-warn' : 'tag';
  return app.el('span', { class: kind }, STATUS_TEXT[status] || status);
}

// Reports an API error in a message box; false when the session ended.
export function showError(app, box, e) {
  if (e instanceof app.ApiError && e.signedOut) return false;
  box.show(e instanceof app.ApiError ? e.message : 'Something went wrong. Please try again.', 'error');
  return true;
}

// Groups slots by day; returns [[dayKey, [slot...]], ...] in order.
export function byDay(slots) {
  const days = new Map();
  for (const s of slots) {
    const k = dayKey(s.start);
    if (!days.has(k)) days.set(k, []);
    days.get(k).push(s);
  }
  return [...days.entries()];
}

// The list of open times as buttons, one group per day, a few days at a
// time with a button for more. onPick(slot).
export function slotPicker(app, slots, providerById, onPick, daysPerPage = 3) {
  const wrap = app.el('div', { class: 'slot-days' });
  const days = byDay(slots);
  const single = new Set(slots.map((s) => s.provider_id)).size === 1;
  let shown = 0;
  const more = app.el('button', { type: 'button', class: 'button' }, 'Show later days');
  const moreWrap = app.el('p', null, more);
  function page() {
    const next = days.slice(shown, shown + daysPerPage);
    let firstHeading = null;
    for (const [key, list] of next) {
      const id = 'day-' + key;
      const h = app.el('h3', { id }, dayTitle(key));
      firstHeading = firstHeading || h;
      wrap.insertBefore(app.el('section', { 'aria-labelledby': id }, h,
        app.el('ul', { class: 'inline-list' }, list.map((s) => {
          const who = providerById.get(s.provider_id);
          const withWho = who ? ' with ' + who.display_name : '';
          // one provider: the name is said, not shown on every button
          return app.el('li', null, app.el('button', {
            type: 'button', class: 'button small', onclick: () => onPick(s),
          }, timeOnly(s.start), single ? app.el('span', { class: 'visually-hidden' }, withWho) : withWho));
        }))), moreWrap);
    }
    shown += next.length;
    moreWrap.hidden = shown >= days.length;
    return firstHeading;
  }
  more.addEventListener('click', () => focusHeading(page()));
  wrap.appendChild(moreWrap);
  page();
  return wrap;
}

// A <select> with a visible label. options [{value, label}].
export function select(app, label, name, options, value) {
  const id = 'sched-' + name + '-' + Math.random().toString(36).slice(2, 8);
  const sel = app.el('select', { id, name }, options.map((o) =>
    app.el('option', { value: String(o.value), selected: String(o.value) === String(value) }, o.label)));
  return { wrap: app.el('div', { class: 'field' }, app.el('label', { for: id }, label), sel), input: sel };
}

// An <input> with a visible label.
export function input(app, label, name, attrs = {}, hint = null) {
  const id = 'sched-' + name + '-' + Math.random().toString(36).slice(2, 8);
  const hintId = hint ? id + '-hint' : null;
  const inp = app.el('input', { id, name, 'aria-describedby': hintId, ...attrs });
  return {
    wrap: app.el('div', { class: 'field' }, app.el('label', { for: id }, label),
      hint ? app.el('p', { class: 'hint', id: hintId }, hint) : null, inp),
    input: inp,
  };
}

// Moves focus to a heading (made focusable) after a step replaced content.
export function focusHeading(node) {
  if (!node) return;
  node.setAttribute('tabindex', '-1');
  node.focus();
}

export function describe(app, a) {
  return a.type_name + ' with ' + a.provider_name + ', ' + app.formatDateTime(a.start);
}
