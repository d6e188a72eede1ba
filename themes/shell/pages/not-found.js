// pages/not-found.js — shown for a #/ address the shell does not know, or a
// plugin page the signed-in user's manifest does not list.

import { el } from '../dom.js';

export async function render(root) {
  root.append(
    el('p', null, 'There is no page at this address, or it is not available to you.'),
    el('p', null, el('a', { href: '#/' }, 'Go to the home page')));
}
