// pages/admin-plugins.js — for admins: the plugins this practice runs, with
// version, description and state (GET /api/plugins). Read-only: plugins are
// turned on and off in config/atrium.ini.

import { el, messageBox, dataTable } from '../dom.js';

export async function render(root, app) {
  const box = messageBox();
  root.append(el('p', { class: 'lead' }, 'Plugins are turned on or off in the practice configuration file (',
    el('code', null, '[plugins]'), ' in atrium.ini) and take effect when the portal restarts.'), box.node);
  try {
    const res = await app.api('GET', '/api/plugins');
    const plugins = res.plugins || [];
    root.appendChild(plugins.length
      ? dataTable('Plugins', [
        { label: 'Name', cell: (p) => p.name },
        { label: 'Version', cell: (p) => p.version || '—' },
        { label: 'Description', cell: (p) => p.description || '' },
        { label: 'State', cell: (p) => el('span', { class: 'tag' + (p.state === 'on' ? ' tag-ok' : '') }, p.state === 'on' ? 'On' : String(p.state || 'off')) },
      ], plugins)
      : el('p', null, 'No plugins are turned on.'));
  } catch (e) {
    if (!(e instanceof app.ApiError) || e.signedOut) throw e;
    box.show(e.message, 'error');
  }
}
