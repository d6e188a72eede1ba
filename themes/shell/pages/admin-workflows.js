// pages/admin-workflows.js — for admins: the Lua workflow scripts that are
// loaded and the events each handles, when they were loaded, the latest
// script errors, and a button to reload them (POST
// /api/admin/workflows/reload). Not an editor: scripts live in
// config/workflows/.

import { el, messageBox, busy, clear, dataTable, timeEl } from '../dom.js';

export async function render(root, app) {
  const box = messageBox();
  const body = el('div');
  const reload = el('button', { type: 'button', class: 'button primary' }, 'Reload scripts');
  root.append(
    el('p', { class: 'lead' }, 'Scripts in ', el('code', null, 'config/workflows/'),
      ' change how the practice works. After editing them, reload here; requests keep working while scripts reload.'),
    el('div', { class: 'actions' }, reload), box.node, body);

  reload.addEventListener('click', () => busy(reload, async () => {
    box.hide();
    try {
      await app.api('POST', '/api/admin/workflows/reload');
      box.show('Workflow scripts reloaded.', 'success');
    } catch (e) {
      if (!(e instanceof app.ApiError) || e.signedOut) return;
      box.show(e.code === 'workflow_error'
        ? 'The scripts were not reloaded because of an error: ' + e.message
        : e.message, 'error');
    }
    await load();
  }));

  async function load() {
    let wf;
    try {
      wf = await app.api('GET', '/api/admin/workflows');
    } catch (e) {
      if (!(e instanceof app.ApiError) || e.signedOut) throw e;
      box.show(e.message, 'error');
      return;
    }
    clear(body);
    const scripts = wf.scripts || [];
    const errors = wf.errors || [];
    body.append(
      el('section', { class: 'card', 'aria-labelledby': 'scripts-h' },
        el('h2', { id: 'scripts-h' }, 'Loaded scripts'),
        wf.loaded_at ? el('p', null, 'Loaded ', timeEl(wf.loaded_at), '.') : null,
        scripts.length
          ? dataTable('Loaded scripts', [
            { label: 'File', cell: (s) => el('code', null, s.file) },
            {
              label: 'Handles events',
              cell: (s) => {
                const h = Array.isArray(s.handlers) ? s.handlers : [];
                return h.length ? el('ul', { class: 'inline-list' }, h.map((x) => el('li', null, el('code', null, typeof x === 'string' ? x : x.event || JSON.stringify(x))))) : 'none';
              },
            },
          ], scripts)
          : el('p', null, 'No scripts are loaded.')),
      el('section', { class: 'card', 'aria-labelledby': 'errors-h' },
        el('h2', { id: 'errors-h' }, 'Recent errors'),
        errors.length
          ? el('ul', { class: 'plain-list errors' }, errors.map((er) =>
            el('li', null, er.time ? el('span', { class: 'meta' }, timeEl(er.time), ' ') : null, el('code', null, er.message))))
          : el('p', null, 'No errors since the scripts were loaded.')));
  }
  await load();
}
