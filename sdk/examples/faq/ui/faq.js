// The FAQ page: a search box and the answers. Uses only the shell's app
// object (see the theme's README), so it works in any theme.
export async function render(root, app) {
  const status = app.el('p', { role: 'status', 'aria-live': 'polite' });
  const list = app.el('div');
  const input = app.el('input', { id: 'faq-q', type: 'search', name: 'q' });
  const form = app.el('form', { role: 'search' },
    app.el('label', { for: 'faq-q' }, 'Search the questions'), input,
    app.el('button', { type: 'submit' }, 'Search'));
  const heading = app.el('h1', {}, 'Questions');
  root.append(heading, form, status, list);

  async function search(q) {
    const res = await app.api('GET', `/api/faq/entries?q=${encodeURIComponent(q)}`);
    heading.textContent = res.greeting;
    list.replaceChildren(...res.entries.map((e) => app.el('details', {},
      app.el('summary', {}, e.question), app.el('p', {}, e.answer))));
    status.textContent = `${res.entries.length} answers`;
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); search(input.value); });
  await search('');
}
