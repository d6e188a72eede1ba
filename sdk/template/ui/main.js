// A plugin page: the shell calls render() with an empty element and its app
// object (api, el, announce, navigate, user, query, formatDateTime).
export async function render(root, app) {
  const res = await app.api('GET', '/api/myplugin/');
  root.append(app.el('h1', {}, 'My plugin'), app.el('p', {}, res.message));
}
