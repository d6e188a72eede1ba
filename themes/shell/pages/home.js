// pages/home.js — the first page after sign-in, different per role:
// patients see upcoming visits, recent notifications and quick links; staff
// and physicians see today's work and pending requests; admins see the
// administration pages and whether the workflow scripts are healthy.
// It only summarises; the real work happens on the pages it links to.

import { el, messageBox, timeEl, formatLongDate } from '../dom.js';
import { safeLink } from './notifications.js';

const CARE_TEAM = ['staff', 'physician'];

function countText(n, one, many) {
  if (n === 0) return 'No ' + many;
  return n + ' ' + (n === 1 ? one : many);
}

export async function render(root, app) {
  const role = app.user.role;
  if (role === 'patient') await patientHome(root, app);
  else if (CARE_TEAM.includes(role)) await careTeamHome(root, app);
  else if (role === 'admin') await adminHome(root, app);
  else root.appendChild(quickLinks(app));
}

function card(id, title, ...content) {
  return el('section', { class: 'card', 'aria-labelledby': id },
    el('h2', { id }, title), ...content);
}

function pluginPages(app, plugin) {
  return app.manifest.pages.filter((p) => !plugin || p.plugin === plugin);
}

function pageHref(p) {
  return '#/p/' + encodeURIComponent(p.plugin) + '/' + encodeURIComponent(p.id);
}

function quickLinks(app, extra = []) {
  const links = pluginPages(app).filter((p) => p.nav).map((p) => ({ href: pageHref(p), label: p.title }));
  links.push(...extra);
  links.push({ href: '#/notifications', label: 'Notifications' }, { href: '#/account', label: 'Your account' });
  return card('quick-h', 'Quick links',
    el('ul', { class: 'link-grid' }, links.map((l) => el('li', null, el('a', { href: l.href }, l.label)))));
}

// The scheduling plugin's appointment list, read defensively: the shell does
// not own that API, so unknown shapes show as "nothing to show".
function appointmentsOf(res) {
  const list = Array.isArray(res) ? res : (res && (res.appointments || res.items)) || [];
  return list.filter((a) => a && typeof a === 'object');
}

function startOf(a) {
  return a.start || a.starts_at || a.start_time || a.time || a.slot_start || null;
}

function withWhom(a) {
  const who = a.provider_name || a.physician_name || a.clinician_name || a.provider || null;
  return typeof who === 'string' ? who : (who && who.display_name) || null;
}

const STATUS_NAMES = {
  pending: 'Waiting for approval', proposed: 'Proposed', booked: 'Booked', arrived: 'Arrived',
  'checked-in': 'Checked in', fulfilled: 'Done', cancelled: 'Cancelled', noshow: 'Missed', waitlist: 'On the waiting list',
};

function appointmentItem(a, showPatient) {
  const start = startOf(a);
  const who = withWhom(a);
  const patient = showPatient ? (a.patient_name || null) : null;
  const what = a.type_name || null;
  return el('li', { class: 'appointment' },
    start ? el('strong', null, timeEl(start)) : el('strong', null, 'Time to be confirmed'),
    patient ? el('span', null, ' — ' + patient) : null,
    what ? el('span', null, (patient ? ', ' : ' — ') + what) : null,
    who ? el('span', null, ' with ' + who) : null,
    a.location ? el('span', { class: 'meta' }, ' · ' + a.location) : null,
    a.status ? [' ', el('span', { class: 'tag' }, STATUS_NAMES[a.status] || String(a.status).replace(/[_-]/g, ' '))] : null);
}

async function upcomingVisits(app) {
  const box = messageBox();
  const body = el('div');
  const sched = pluginPages(app, 'scheduling');
  const book = sched.find((p) => p.id === 'book') || sched.find((p) => p.nav);
  const mine = sched.find((p) => p.id === 'appointments');
  const section = card('visits-h', 'Upcoming visits', box.node, body,
    el('div', { class: 'actions' },
      book ? el('a', { href: pageHref(book), class: 'button primary' }, book.title) : null,
      mine ? el('a', { href: pageHref(mine), class: 'button' }, mine.title) : null));
  try {
    const res = await app.api('GET', '/api/scheduling/appointments?scope=upcoming&limit=20');
    const now = Date.now();
    const upcoming = appointmentsOf(res)
      .filter((a) => !/cancel|noshow|fulfilled|entered-in-error/i.test(a.status || '') &&
        (!startOf(a) || Date.parse(a.end || startOf(a)) >= now))
      .sort((x, y) => Date.parse(startOf(x) || 0) - Date.parse(startOf(y) || 0))
      .slice(0, 5);
    body.appendChild(upcoming.length
      ? el('ul', { class: 'plain-list' }, upcoming.map((a) => appointmentItem(a, false)))
      : el('p', null, 'You have no upcoming visits.'));
  } catch (e) {
    if (!(e instanceof app.ApiError) || e.signedOut) throw e;
    box.show('Your visits could not be loaded just now.', 'error');
  }
  return section;
}

async function recentNotifications(app) {
  const box = messageBox();
  const body = el('div');
  const section = card('recent-h', 'Recent notifications', box.node, body,
    el('p', null, el('a', { href: '#/notifications' }, 'All notifications')));
  try {
    const res = await app.api('GET', '/api/notifications?limit=3');
    app.shell.setUnread(res.unread || 0);
    const items = res.notifications || [];
    body.appendChild(items.length
      ? el('ul', { class: 'plain-list' }, items.map((n) => {
        const link = safeLink(n.link);
        const title = n.title || n.kind;
        return el('li', null,
          n.read ? null : el('span', { class: 'tag tag-new' }, 'New'), n.read ? null : ' ',
          link ? el('a', { href: link }, title) : el('strong', null, title),
          el('span', { class: 'meta' }, ' · ', timeEl(n.created_at)));
      }))
      : el('p', null, 'Nothing new.'));
  } catch (e) {
    if (!(e instanceof app.ApiError) || e.signedOut) throw e;
    box.show('Notifications could not be loaded just now.', 'error');
  }
  return section;
}

async function patientHome(root, app) {
  const hasScheduling = pluginPages(app, 'scheduling').length > 0;
  const parts = await Promise.all([
    hasScheduling ? upcomingVisits(app) : null,
    recentNotifications(app),
  ]);
  root.append(el('div', { class: 'grid' }, parts.filter(Boolean), quickLinks(app)));
}

async function careTeamHome(root, app) {
  const sched = pluginPages(app, 'scheduling');
  const today = sched.find((p) => p.id === 'schedule') || sched.find((p) => /today|day|calendar/i.test(p.id));
  const work = card('today-h', 'Today',
    el('p', null, formatLongDate(new Date())),
    el('ul', { class: 'link-grid' },
      today ? el('li', null, el('a', { href: pageHref(today) }, "Today's schedule")) : null,
      el('li', null, el('a', { href: '#/patients' }, 'Find a patient or add a new one'))));
  const parts = [work];
  if (sched.length) parts.push(await pendingRequests(app, sched));
  parts.push(await recentNotifications(app));
  root.append(el('div', { class: 'grid' }, parts, quickLinks(app)));
}

async function pendingRequests(app, sched) {
  const box = messageBox();
  const body = el('div');
  const queue = sched.find((p) => /request|pending|queue|inbox/i.test(p.id)) || sched.find((p) => p.id === 'schedule');
  const section = card('pending-h', 'Pending requests', box.node, body,
    queue ? el('p', null, el('a', { href: pageHref(queue) }, 'Review requests')) : null);
  try {
    const res = await app.api('GET', '/api/scheduling/appointments?scope=upcoming&status=pending&limit=50');
    const pending = appointmentsOf(res).filter((a) => a.status === 'pending');
    body.appendChild(pending.length
      ? el('div', null,
        el('p', null, pending.length === 1 ? '1 visit request is waiting.' : pending.length + ' visit requests are waiting.'),
        el('ul', { class: 'plain-list' }, pending.slice(0, 5).map((a) => appointmentItem(a, true))))
      : el('p', null, 'No requests are waiting.'));
  } catch (e) {
    if (!(e instanceof app.ApiError) || e.signedOut) throw e;
    box.show('Pending requests could not be loaded just now.', 'error');
  }
  return section;
}

const ADMIN_PAGES = [
  ['#/admin/accounts', 'Accounts', 'Create staff accounts, add patients and give them activation codes, lock or unlock accounts.'],
  ['#/admin/plugins', 'Plugins', 'See which features are turned on and their versions.'],
  ['#/admin/workflows', 'Workflow scripts', 'Check the practice rules, reload them and read their errors.'],
  ['#/admin/audit', 'Audit log', 'Search who opened or changed what, and when.'],
];

async function adminHome(root, app) {
  const health = el('div');
  const grid = el('div', { class: 'grid' },
    card('admin-h', 'Administration',
      el('ul', { class: 'tiles' }, ADMIN_PAGES.map(([href, title, text]) =>
        el('li', null, el('a', { href }, title), el('p', null, text))))),
    card('health-h', 'Workflow health', health));
  root.append(grid, quickLinks(app));
  try {
    const wf = await app.api('GET', '/api/admin/workflows');
    const errors = wf.errors || [];
    health.append(
      el('p', null, countText((wf.scripts || []).length, 'script', 'scripts') + ' loaded',
        wf.loaded_at ? el('span', null, ' at ', timeEl(wf.loaded_at)) : null, '.'),
      errors.length
        ? el('p', { class: 'message message-error' }, countText(errors.length, 'recent error', 'recent errors') + '. ',
          el('a', { href: '#/admin/workflows' }, 'See the errors'))
        : el('p', { class: 'message message-success' }, 'No recent errors.'));
  } catch (e) {
    if (!(e instanceof app.ApiError) || e.signedOut) throw e;
    health.appendChild(el('p', null, 'The workflow status could not be loaded.'));
  }
}
