// app.js — Atrium's web shell: boots the page, keeps who is signed in, builds
// the navigation from /api/ui/manifest and routes #/... hashes to pages.
//
// Built-in pages live in ./pages/ and plugin pages are ES modules the
// manifest names; both get the same `app` object (see README.md, "Plugin page
// contract"). The shell owns the <h1> of every page, focus after navigation,
// the polite announcer and the idle-timeout notice. It is not a framework:
// a page renders once into an empty element and is thrown away when the user
// leaves it.

import { api, ApiError, setSession, setHooks, getCsrfToken } from './api.js';
import { el, clear, formatDateTime, formatDate, setLocale } from './dom.js';
import { createIdleWatcher } from './idle.js';

const CARE_TEAM = ['staff', 'physician'];

// Built-in routes. roles: who may open it (null = any signed-in user);
// public: reachable signed out. title may be a function of the state.
const ROUTES = {
  '/login': { public: true, title: 'Sign in', load: () => import('./pages/login.js') },
  '/activate': { public: true, title: 'Activate your account', load: () => import('./pages/activate.js') },
  '/register': { public: true, title: 'Create an account', load: () => import('./pages/register.js') },
  '/': { title: (s) => 'Welcome, ' + (s.user.display_name || s.user.username), load: () => import('./pages/home.js') },
  '/enroll': { title: 'Set up two-step verification', load: () => import('./pages/enroll.js'), enrolment: true },
  '/account': { title: 'Your account', load: () => import('./pages/account.js') },
  '/notifications': { title: 'Notifications', load: () => import('./pages/notifications.js') },
  '/patients': { title: 'Patients', roles: CARE_TEAM, load: () => import('./pages/patients.js') },
  '/admin/accounts': { title: 'Accounts', roles: ['admin'], load: () => import('./pages/admin-accounts.js') },
  '/admin/plugins': { title: 'Plugins', roles: ['admin'], load: () => import('./pages/admin-plugins.js') },
  '/admin/workflows': { title: 'Workflow scripts', roles: ['admin'], load: () => import('./pages/admin-workflows.js') },
  '/admin/audit': { title: 'Audit log', roles: ['admin'], load: () => import('./pages/admin-audit.js') },
};

const state = {
  manifest: { practice: { name: 'Patient portal' }, user: null, pages: [] },
  user: null,
  mustEnroll: false,
  unread: 0,
  leave: null, // cleanup function returned by the current page, if any
  seq: 0, // navigation counter: a slower, older render must not steal focus
  booted: false,
};

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- announcer

let announceTimer = null;

// Speaks text through the polite live region (visually hidden).
function announce(text) {
  const region = $('announcer');
  clear(region);
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { region.textContent = String(text); }, 50);
}

// ---------------------------------------------------------------- session

const idle = createIdleWatcher({
  ping: () => api('GET', '/api/auth/me').then(applyMe).catch(() => {}),
  check: () => api('GET', '/api/auth/me').then(applyMe).catch(() => {}),
  signOut: () => signOut(),
});

setHooks({
  activity: () => idle.touch(),
  signedOut: () => sessionEnded(),
});

function applyMe(me) {
  if (!me) return;
  if (me.csrf_token) setSession(me.csrf_token, true);
  if (me.user) state.user = me.user;
  state.mustEnroll = Boolean(me.must_enroll_totp);
}

// Called by pages/login.js with the 200 answer of POST /api/auth/login.
async function signedIn(login) {
  state.user = login.user;
  state.mustEnroll = Boolean(login.must_enroll_totp);
  setSession(login.csrf_token, true);
  idle.start(login.idle_timeout_seconds);
  await loadManifest();
  renderChrome();
  refreshUnread();
}

function forget() {
  state.user = null;
  state.mustEnroll = false;
  state.unread = 0;
  setSession(null, false);
  idle.stop();
}

// The server no longer knows our session (401 confirmed by /api/auth/me).
function sessionEnded() {
  const wasIdle = idle.expired();
  const next = currentHash();
  forget();
  renderChrome();
  loadManifest().then(renderChrome, () => {});
  const q = new URLSearchParams({ reason: wasIdle ? 'idle' : 'ended' });
  if (next && next !== '#/' && !next.startsWith('#/login')) q.set('next', next);
  navigate('#/login?' + q.toString());
}

async function signOut() {
  try {
    await api('POST', '/api/auth/logout');
  } catch {
    // Signed out locally either way; the server session expires on its own.
  }
  forget();
  await loadManifest().catch(() => {});
  renderChrome();
  navigate('#/login?reason=signedout');
}

async function loadManifest() {
  try {
    const m = await api('GET', '/api/ui/manifest');
    if (m && typeof m === 'object') {
      state.manifest = { practice: {}, pages: [], ...m };
      if (!Array.isArray(state.manifest.pages)) state.manifest.pages = [];
    }
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
  }
  const p = state.manifest.practice || {};
  setLocale(p.locale, p.timezone);
}

async function refreshUnread() {
  if (!state.user || state.mustEnroll) return;
  try {
    const r = await api('GET', '/api/notifications?limit=1');
    setUnread(r && typeof r.unread === 'number' ? r.unread : 0);
  } catch {
    // The badge is a convenience; the notifications page shows real errors.
  }
}

function setUnread(n) {
  state.unread = n;
  const badge = $('unread-badge');
  if (!badge) return;
  badge.hidden = !n;
  badge.textContent = n ? String(n) : '';
  const link = $('notifications-link');
  if (link) link.setAttribute('aria-label', n ? 'Notifications, ' + n + ' unread' : 'Notifications');
}

// ---------------------------------------------------------------- chrome

function navItems() {
  const items = [];
  if (!state.user) {
    items.push({ hash: '#/login', label: 'Sign in' });
    items.push({ hash: '#/activate', label: 'Activate account' });
    if (state.manifest.practice && state.manifest.practice.self_registration) {
      items.push({ hash: '#/register', label: 'Create an account' });
    }
    return items;
  }
  if (state.mustEnroll) return [{ hash: '#/enroll', label: 'Two-step verification' }];
  const role = state.user.role;
  items.push({ hash: '#/', label: 'Home' });
  if (CARE_TEAM.includes(role)) items.push({ hash: '#/patients', label: 'Patients' });
  for (const p of state.manifest.pages) {
    if (p.nav) items.push({ hash: pageHash(p), label: p.title });
  }
  if (role === 'admin') {
    items.push({ hash: '#/admin/accounts', label: 'Accounts' });
    items.push({ hash: '#/admin/plugins', label: 'Plugins' });
    items.push({ hash: '#/admin/workflows', label: 'Workflows' });
    items.push({ hash: '#/admin/audit', label: 'Audit log' });
  }
  items.push({ hash: '#/notifications', label: 'Notifications', id: 'notifications-link', badge: true });
  items.push({ hash: '#/account', label: 'Account' });
  return items;
}

function pageHash(page) {
  return '#/p/' + encodeURIComponent(page.plugin) + '/' + encodeURIComponent(page.id);
}

function renderChrome() {
  const practice = state.manifest.practice || {};
  const name = practice.name || 'Patient portal';
  $('practice-name').textContent = name;
  $('footer-practice').textContent = name;

  const list = $('nav-list');
  clear(list);
  for (const item of navItems()) {
    const a = el('a', { href: item.hash, id: item.id }, item.label);
    if (item.badge) {
      a.appendChild(el('span', { class: 'badge', id: 'unread-badge', hidden: true, 'aria-hidden': 'true' }));
    }
    list.appendChild(el('li', null, a));
  }
  setUnread(state.unread);
  markCurrent();

  const who = $('user-area');
  clear(who);
  if (state.user) {
    who.appendChild(el('span', { class: 'user-name' },
      el('span', { class: 'visually-hidden' }, 'Signed in as '),
      state.user.display_name || state.user.username));
    who.appendChild(el('button', { type: 'button', class: 'button small', onclick: () => signOut() }, 'Sign out'));
  }
}

function markCurrent() {
  const { path } = parseHash();
  for (const a of $('nav-list').querySelectorAll('a')) {
    const target = a.getAttribute('href').slice(1);
    if (target === path) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function setupNavToggle() {
  const toggle = $('nav-toggle');
  const list = $('nav-list');
  toggle.addEventListener('click', () => {
    const open = toggle.getAttribute('aria-expanded') !== 'true';
    toggle.setAttribute('aria-expanded', String(open));
    list.classList.toggle('open', open);
  });
  list.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && list.classList.contains('open')) {
      closeNav();
      toggle.focus();
    }
  });
}

function closeNav() {
  $('nav-toggle').setAttribute('aria-expanded', 'false');
  $('nav-list').classList.remove('open');
}

function setupSkipLink() {
  $('skip-link').addEventListener('click', (ev) => {
    ev.preventDefault();
    const main = $('main');
    const h1 = main.querySelector('h1');
    (h1 || main).focus();
  });
}

// ---------------------------------------------------------------- routing

function currentHash() {
  return location.hash || '#/';
}

function parseHash(hash = currentHash()) {
  let h = hash.replace(/^#/, '');
  if (!h.startsWith('/')) h = '/';
  const qi = h.indexOf('?');
  const path = qi < 0 ? h : h.slice(0, qi);
  const query = new URLSearchParams(qi < 0 ? '' : h.slice(qi + 1));
  return { path: path.length > 1 ? path.replace(/\/+$/, '') : path, query };
}

// Goes to hash ('#/x', '/x' or 'x'); re-renders when it is already current.
function navigate(hash) {
  let h = String(hash);
  if (!h.startsWith('#')) h = '#' + (h.startsWith('/') ? h : '/' + h);
  if (h === location.hash) route();
  else location.hash = h;
}

function homeHash() {
  return state.mustEnroll ? '#/enroll' : '#/';
}

// Where to go after signing in: the ?next= hash when it is one of ours.
function safeNext(query) {
  const next = query.get('next') || '';
  if (state.mustEnroll || !/^#\/(?!\/)/.test(next) || next.startsWith('#/login')) return homeHash();
  return next;
}

// Decides what to render for the current hash; returns {title, load} or a
// redirect string.
function resolve(path, query) {
  let def = ROUTES[path];
  if (!def && path.startsWith('/p/')) def = pluginRoute(path);
  if (!def) return { title: 'Page not found', load: () => import('./pages/not-found.js') };
  if (def.public) {
    if (state.user && path === '/login') return safeNext(query);
    return def;
  }
  if (!state.user) {
    const here = currentHash();
    return here === '#/' ? '#/login' : '#/login?' + new URLSearchParams({ next: here }).toString();
  }
  if (state.mustEnroll && !def.enrolment) return '#/enroll';
  if (!state.mustEnroll && def.enrolment) return '#/';
  if (def.roles && !def.roles.includes(state.user.role)) {
    return { title: 'Not available', load: () => import('./pages/forbidden.js') };
  }
  return def;
}

function pluginRoute(path) {
  const parts = path.split('/'); // ['', 'p', plugin, id]
  if (parts.length !== 4) return null;
  const plugin = decodeURIComponent(parts[2]);
  const id = decodeURIComponent(parts[3]);
  if (!state.user) return { plugin: true }; // sign in first, then look again
  const page = state.manifest.pages.find((p) => p.plugin === plugin && p.id === id);
  if (!page) return null;
  if (typeof page.module !== 'string' || !page.module.startsWith('/plugins/')) return null;
  return { title: page.title, load: () => import(page.module), plugin: true };
}

function makeApp(query) {
  return {
    api,
    ApiError,
    get user() { return state.user; },
    get csrfToken() { return getCsrfToken(); },
    get manifest() { return state.manifest; },
    navigate,
    query,
    announce,
    el,
    formatDateTime,
    formatDate,
    // Shell-only helpers for the built-in pages (not part of the plugin contract).
    shell: { signedIn, signOut, refreshUnread, setUnread, applyMe, loadManifest, renderChrome, homeHash, safeNext },
  };
}

async function route() {
  if (!location.hash.startsWith('#/') && location.hash !== '') return; // e.g. #main
  const seq = ++state.seq;
  const { path, query } = parseHash();
  const target = resolve(path, query);
  if (typeof target === 'string') {
    location.replace(target);
    return;
  }
  closeNav();
  markCurrent();
  if (typeof state.leave === 'function') {
    try { state.leave(); } catch { /* a page's cleanup must not break navigation */ }
  }
  state.leave = null;

  const main = $('main');
  const title = typeof target.title === 'function' ? target.title(state) : target.title;
  const h1 = el('h1', { tabindex: '-1', id: 'page-title' }, title);
  const root = el('div', { class: 'page', id: 'page' });
  clear(main);
  main.append(h1, root);
  main.setAttribute('aria-busy', 'true');
  main.dataset.hash = location.hash;
  document.title = title + ' – ' + ((state.manifest.practice || {}).name || 'Patient portal');
  if (state.booted) h1.focus();
  state.booted = true;

  try {
    const mod = await target.load();
    if (seq !== state.seq) return;
    if (typeof mod.render !== 'function') throw new Error('page module has no render()');
    const leave = await mod.render(root, makeApp(query));
    if (seq === state.seq) state.leave = leave;
  } catch (e) {
    if (seq !== state.seq) return;
    if (e instanceof ApiError && e.signedOut) return;
    clear(root);
    root.appendChild(el('div', { class: 'message message-error', role: 'alert' },
      el('p', null, e instanceof ApiError ? e.message : 'This page could not be loaded. Please try again.'),
      el('p', null, el('a', { href: '#/' }, 'Go to the home page'))));
    if (!(e instanceof ApiError)) console.error(e);
  } finally {
    // aria-busy tells assistive technology (and the e2e tests) the page is done.
    if (seq === state.seq) main.removeAttribute('aria-busy');
  }
}

// ---------------------------------------------------------------- boot

async function boot() {
  setupSkipLink();
  setupNavToggle();
  await loadManifest();
  if (state.manifest.user) {
    try {
      const me = await api('GET', '/api/auth/me');
      applyMe(me);
      setSession(me.csrf_token, true);
      idle.start(me.idle_timeout_seconds || state.manifest.idle_timeout_seconds);
    } catch {
      state.user = null;
    }
  }
  renderChrome();
  window.addEventListener('hashchange', route);
  await route();
  refreshUnread();
}

boot();
