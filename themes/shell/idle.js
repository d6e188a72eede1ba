// idle.js — warns a signed-in user before the server's idle timeout ends
// their session, and notices when it has.
//
// The server restarts a session's idle clock on every authenticated request;
// this module mirrors that clock in the page. touch() is called for each
// answer from the server. About a minute before the timeout (half the timeout
// when it is shorter than two minutes) a modal alert dialog offers "Stay
// signed in", which pings the server. Keyboard or pointer use in the page
// counts as presence: it pings quietly at most once every third of the
// timeout, so someone typing a long form is not signed out. Tabs of the same
// portal share their clock through a BroadcastChannel. This module never
// decides on its own that the session ended: at the deadline it asks the
// server (check()), and the shell reacts to the answer.

import { el } from './dom.js';

const TICK_MS = 1000;
const GRACE_MS = 1500; // let the server's clock pass the deadline first

export function createIdleWatcher({ ping, check, signOut }) {
  let timeoutMs = 0;
  let lastSeen = 0;
  let timer = null;
  let checking = false;
  let returnFocus = null;
  const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('atrium-idle') : null;

  const count = el('strong', { class: 'idle-count' });
  const stay = el('button', { type: 'button', class: 'button primary', onclick: () => ping() }, 'Stay signed in');
  const leave = el('button', { type: 'button', class: 'button', onclick: () => { hide(); signOut(); } }, 'Sign out now');
  const dialog = el('dialog', {
    class: 'idle-dialog', role: 'alertdialog', 'aria-modal': 'true',
    'aria-labelledby': 'idle-title', 'aria-describedby': 'idle-desc',
  },
  el('h2', { id: 'idle-title' }, 'Are you still there?'),
  el('p', { id: 'idle-desc' }, 'For your privacy you will be signed out in ', count,
    ' because the portal has not been used for a while.'),
  el('div', { class: 'actions' }, stay, leave));
  dialog.addEventListener('cancel', (ev) => { ev.preventDefault(); ping(); });
  document.body.appendChild(dialog);

  if (channel) {
    channel.onmessage = (ev) => {
      if (typeof ev.data === 'number' && ev.data > lastSeen) {
        lastSeen = ev.data;
        hide();
      }
    };
  }

  function leadMs() {
    return Math.min(60000, timeoutMs / 2);
  }

  function secondsLeft() {
    return Math.max(0, Math.ceil((lastSeen + timeoutMs - Date.now()) / 1000));
  }

  function show() {
    if (dialog.open) return;
    returnFocus = document.activeElement;
    dialog.showModal();
    stay.focus();
  }

  function hide() {
    if (!dialog.open) return;
    dialog.close();
    if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
    returnFocus = null;
  }

  async function tick() {
    if (!timeoutMs || checking) return;
    const elapsed = Date.now() - lastSeen;
    if (elapsed >= timeoutMs + GRACE_MS) {
      checking = true;
      try {
        await check();
      } finally {
        checking = false;
      }
    } else if (elapsed >= timeoutMs - leadMs()) {
      const s = secondsLeft();
      count.textContent = s === 1 ? '1 second' : s + ' seconds';
      show();
    }
  }

  function onPresence() {
    if (!timeoutMs || dialog.open) return;
    if (Date.now() - lastSeen > timeoutMs / 3) ping();
  }

  for (const type of ['keydown', 'pointerdown']) {
    document.addEventListener(type, onPresence, { capture: true, passive: true });
  }
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') tick();
  });

  return {
    // Starts (or restarts) watching with the server's timeout in seconds.
    start(seconds) {
      timeoutMs = Math.max(1, Number(seconds) || 1800) * 1000;
      lastSeen = Date.now();
      if (!timer) timer = setInterval(tick, TICK_MS);
    },
    // The server just saw this session.
    touch() {
      if (!timeoutMs) return;
      lastSeen = Date.now();
      if (channel) channel.postMessage(lastSeen);
      hide();
    },
    // True when the user has been idle for the whole timeout.
    expired() {
      return timeoutMs > 0 && Date.now() - lastSeen >= timeoutMs;
    },
    stop() {
      timeoutMs = 0;
      if (timer) clearInterval(timer);
      timer = null;
      hide();
    },
  };
}
