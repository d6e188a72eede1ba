// dom.js — tiny DOM and formatting helpers shared by the shell and plugin pages.
//
// el() builds elements from data without ever parsing HTML, so text a user or
// the server supplied can never become markup. The form helpers give every
// input a <label>, a hint and an error slot wired up with aria-describedby.
// This is not a templating or component system.

let uid = 0;

// Returns a document-unique id with the given prefix.
export function newId(prefix = 'id') {
  uid += 1;
  return prefix + '-' + uid;
}

// el(tag, attrs, ...children) -> Element.
// attrs: class/className, text, html is NOT supported; onX: function adds an
// event listener; value/checked/disabled/selected/hidden are set as
// properties; dataset: object; true adds an empty attribute, false/null skips.
// children: strings and numbers become text nodes, arrays are flattened,
// null/undefined/false are skipped.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [key, val] of Object.entries(attrs)) {
      if (val === null || val === undefined || val === false) continue;
      if (key === 'class' || key === 'className') node.className = val;
      else if (key === 'text') node.textContent = String(val);
      else if (key === 'dataset') Object.assign(node.dataset, val);
      else if (key.startsWith('on') && typeof val === 'function') {
        node.addEventListener(key.slice(2).toLowerCase(), val);
      } else if (key === 'value' || key === 'checked' || key === 'selected' ||
                 key === 'disabled' || key === 'hidden') {
        node[key] = val;
      } else if (val === true) node.setAttribute(key, '');
      else node.setAttribute(key, String(val));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

// Removes every child of node.
export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

let locale;
let timeZone;

// The shell sets the practice's locale/time zone when the manifest names them;
// otherwise the browser's are used.
export function setLocale(loc, tz) {
  locale = loc || undefined;
  timeZone = tz || undefined;
}

function format(iso, opts) {
  if (!iso) return '';
  const d = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  try {
    return new Intl.DateTimeFormat(locale, { ...opts, timeZone }).format(d);
  } catch {
    return new Intl.DateTimeFormat(undefined, opts).format(d);
  }
}

// "12 Mar 2027, 09:30" in the practice's or browser's locale.
export function formatDateTime(iso) {
  return format(iso, { dateStyle: 'medium', timeStyle: 'short' });
}

// "12 Mar 2027".
export function formatDate(iso) {
  return format(iso, { dateStyle: 'medium' });
}

// "Friday, 12 March 2027".
export function formatLongDate(iso) {
  return format(iso, { dateStyle: 'full' });
}

// A machine-readable <time> element showing formatDateTime(iso).
export function timeEl(iso, dateOnly = false) {
  return el('time', { datetime: iso }, dateOnly ? formatDate(iso) : formatDateTime(iso));
}

// field({label, name, type, hint, required, autocomplete, ...attrs})
// -> {wrap, input, error}: a labelled input with hint and error slot.
// type 'select' takes options: [{value, label}]; 'textarea' is supported.
// optionalMark: false drops the "(optional)" note (search forms).
export function field(spec) {
  const id = newId(spec.name || 'f');
  const hintId = spec.hint ? id + '-hint' : null;
  const errId = id + '-err';
  const attrs = {
    id, name: spec.name, required: spec.required || false,
    autocomplete: spec.autocomplete, inputmode: spec.inputmode,
    pattern: spec.pattern, minlength: spec.minlength, maxlength: spec.maxlength,
    placeholder: spec.placeholder, spellcheck: spec.spellcheck,
    autocapitalize: spec.autocapitalize, min: spec.min, max: spec.max,
    'aria-describedby': hintId || undefined,
  };
  let input;
  if (spec.type === 'select') {
    input = el('select', attrs, (spec.options || []).map((o) =>
      el('option', { value: o.value, selected: o.value === spec.value }, o.label)));
  } else if (spec.type === 'textarea') {
    input = el('textarea', { ...attrs, rows: spec.rows || 4 });
    if (spec.value) input.value = spec.value;
  } else {
    input = el('input', { ...attrs, type: spec.type || 'text', value: spec.value });
  }
  const error = el('p', { class: 'field-error', id: errId, hidden: true });
  const wrap = el('div', { class: 'field' },
    el('label', { for: id }, spec.label,
      spec.required || spec.optionalMark === false ? null : el('span', { class: 'optional' }, ' (optional)')),
    spec.hint ? el('p', { class: 'hint', id: hintId }, spec.hint) : null,
    error, input);
  return { wrap, input, error, setError: (msg) => setFieldError(input, error, hintId, msg) };
}

function setFieldError(input, error, hintId, msg) {
  if (msg) {
    error.textContent = msg;
    error.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', [error.id, hintId].filter(Boolean).join(' '));
  } else {
    error.textContent = '';
    error.hidden = true;
    input.removeAttribute('aria-invalid');
    if (hintId) input.setAttribute('aria-describedby', hintId);
    else input.removeAttribute('aria-describedby');
  }
}

// A message box: kind 'error' (role=alert), 'success' or 'info' (role=status).
// Returns {node, show(text, kind), hide()}. The node stays in the page so
// screen readers hear later messages.
export function messageBox() {
  const polite = el('div', { role: 'status', class: 'message-live' });
  const urgent = el('div', { role: 'alert', class: 'message-live' });
  return {
    node: el('div', { class: 'message-slot' }, urgent, polite),
    show(text, kind = 'info') {
      clear(polite);
      clear(urgent);
      const target = kind === 'error' ? urgent : polite;
      target.appendChild(el('p', { class: 'message message-' + kind }, text));
    },
    hide() {
      clear(polite);
      clear(urgent);
    },
  };
}

// Runs fn while button shows a busy state; a second press while busy is
// ignored (returns undefined). The button is marked aria-disabled rather than
// disabled so keyboard focus stays on it. fn's errors propagate.
export async function busy(button, fn) {
  if (button.getAttribute('aria-disabled') === 'true') return undefined;
  button.setAttribute('aria-disabled', 'true');
  button.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    button.removeAttribute('aria-disabled');
    button.removeAttribute('aria-busy');
  }
}

// Wraps a table so it scrolls sideways on narrow screens and can be reached
// with the keyboard; label names the region for screen readers.
export function tableWrap(table, label) {
  return el('div', { class: 'table-wrap', role: 'region', 'aria-label': label + ' (table)', tabindex: '0' }, table);
}

// A simple data table: columns [{label, cell(row) -> node|string}].
export function dataTable(caption, columns, rows) {
  return tableWrap(el('table', null,
    el('caption', { class: 'visually-hidden' }, caption),
    el('thead', null, el('tr', null, columns.map((c) => el('th', { scope: 'col' }, c.label)))),
    el('tbody', null, rows.map((r) => el('tr', null, columns.map((c, i) =>
      i === 0 ? el('th', { scope: 'row' }, c.cell(r)) : el('td', null, c.cell(r))))))), caption);
}
