// docs/events.md must list exactly the events the core and bundled plugins
// declare; regenerate it with `make docs` when a plugin adds one.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const lib = require('./lib');
const { catalog, render } = require('../../scripts/events-doc');

test('docs/events.md matches the declared events', () => {
  const events = catalog(lib.ATRIUMD, path.join(lib.BUILD, 'plugins'));
  assert.ok(events.some((e) => e.name === 'notification.before_send'));
  const doc = fs.readFileSync(path.join(lib.ROOT, 'docs', 'events.md'), 'utf8');
  assert.equal(doc, render(events), 'docs/events.md is stale: run `make docs`');
});
