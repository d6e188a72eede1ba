// pages/notifications.js — the user's notifications (newest first, mark as
// read) and their delivery preferences: which channel each kind of
// notification uses. Not sending notifications: the server's outbox does.

import { el, messageBox, busy, clear, timeEl, newId } from '../dom.js';

const CHANNEL_NAMES = { portal: 'In the portal', email: 'Email', webhook: 'Practice system (webhook)', sms: 'Text message' };

export function humanize(kind) {
  const s = String(kind).replace(/[._-]+/g, ' ').trim();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// A link from the server is followed only when it stays inside the portal.
export function safeLink(link) {
  if (typeof link !== 'string') return null;
  if (link.startsWith('#/')) return link;
  if (link.startsWith('/') && !link.startsWith('//') && !link.startsWith('/\\')) return link;
  return null;
}

export async function render(root, app) {
  const listSection = el('section', { class: 'card', 'aria-labelledby': 'notes-h' },
    el('h2', { id: 'notes-h' }, 'Latest'));
  const prefSection = el('section', { class: 'card', 'aria-labelledby': 'prefs-h' },
    el('h2', { id: 'prefs-h' }, 'How we contact you'));
  root.append(listSection, prefSection);
  await Promise.all([drawList(listSection, app), drawPrefs(prefSection, app)]);
}

async function drawList(section, app) {
  const box = messageBox();
  const holder = el('div');
  section.append(box.node, holder);
  let data;
  try {
    data = await app.api('GET', '/api/notifications?limit=50');
  } catch (e) {
    if (!(e instanceof app.ApiError) || e.signedOut) throw e;
    box.show(e.message, 'error');
    return;
  }
  const items = data.notifications || [];
  app.shell.setUnread(data.unread || 0);
  if (!items.length) {
    holder.appendChild(el('p', null, 'You have no notifications.'));
    return;
  }
  const list = el('ul', { class: 'notifications' });
  for (const n of items) list.appendChild(item(n));
  holder.appendChild(list);

  function item(n) {
    const titleId = newId('note');
    const li = el('li', { class: 'notification' + (n.read ? '' : ' unread') });
    const draw = () => {
      clear(li);
      li.className = 'notification' + (n.read ? '' : ' unread');
      const link = safeLink(n.link);
      li.append(
        el('h3', { id: titleId }, n.read ? null : el('span', { class: 'tag tag-new' }, 'New'), n.read ? null : ' ', n.title || humanize(n.kind)),
        el('p', { class: 'meta' }, timeEl(n.created_at)),
        n.body ? el('p', null, n.body) : null,
        el('div', { class: 'actions' },
          link ? el('a', { href: link, class: 'button small' }, 'Open', el('span', { class: 'visually-hidden' }, ': ' + (n.title || ''))) : null,
          n.read ? null : el('button', {
            type: 'button', class: 'button small',
            onclick: (ev) => busy(ev.currentTarget, () => markRead(n, draw)),
          }, 'Mark as read', el('span', { class: 'visually-hidden' }, ': ' + (n.title || '')))));
    };
    draw();
    return li;
  }

  async function markRead(n, redraw) {
    try {
      await app.api('POST', '/api/notifications/' + encodeURIComponent(n.id) + '/read');
      n.read = true;
      redraw();
      const unread = items.filter((x) => !x.read).length;
      app.shell.setUnread(Math.max(0, unread));
      app.announce('Marked as read.');
      document.getElementById('notes-h').setAttribute('tabindex', '-1');
      document.getElementById('notes-h').focus();
    } catch (e) {
      if (!(e instanceof app.ApiError) || e.signedOut) return;
      box.show(e.message, 'error');
    }
  }
}

async function drawPrefs(section, app) {
  const box = messageBox();
  section.append(box.node);
  let data;
  try {
    data = await app.api('GET', '/api/notifications/preferences');
  } catch (e) {
    if (!(e instanceof app.ApiError) || e.signedOut) throw e;
    box.show(e.message, 'error');
    return;
  }
  const prefs = data.preferences || {};
  const channels = data.channels || ['portal'];
  const contacts = data.contacts || {};
  const email = contacts.email;
  const inputs = [];
  const form = el('form', { class: 'form prefs', novalidate: true });
  if (email && email.address) {
    form.appendChild(el('p', null, 'Email goes to ', el('strong', null, email.address),
      email.verified ? '.' : ' (not yet verified: emails start once it is).'));
  } else if (channels.includes('email')) {
    form.appendChild(el('p', null, 'You have no email address on file, so email notifications cannot be sent. Ask the practice to add one.'));
  }
  for (const kind of Object.keys(prefs)) {
    const fs = el('fieldset', { class: 'choices' }, el('legend', null, humanize(kind)));
    for (const ch of channels) {
      const id = newId('pref');
      const box1 = el('input', { type: 'checkbox', id, name: kind, value: ch, checked: (prefs[kind] || []).includes(ch) });
      inputs.push(box1);
      fs.appendChild(el('div', { class: 'check' }, box1, el('label', { for: id }, CHANNEL_NAMES[ch] || humanize(ch))));
    }
    form.appendChild(fs);
  }
  if (!Object.keys(prefs).length) form.appendChild(el('p', null, 'There is nothing to choose yet.'));
  const save = el('button', { type: 'submit', class: 'button primary' }, 'Save preferences');
  form.appendChild(el('div', { class: 'actions' }, save));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(save, async () => {
      const out = {};
      for (const kind of Object.keys(prefs)) out[kind] = [];
      for (const i of inputs) if (i.checked) out[i.name].push(i.value);
      try {
        await app.api('PUT', '/api/notifications/preferences', { preferences: out });
        box.show('Your preferences were saved.', 'success');
      } catch (e) {
        if (!(e instanceof app.ApiError) || e.signedOut) return;
        box.show(e.message, 'error');
      }
    });
  });
  section.appendChild(form);
}
