// pages/forbidden.js — shown when a signed-in user opens a built-in page
// their role may not use.

import { el } from '../dom.js';

export async function render(root) {
  root.append(
    el('p', null, 'This page is for another role at the practice. If you need it, ask the practice administrator.'),
    el('p', null, el('a', { href: '#/' }, 'Go to the home page')));
}
