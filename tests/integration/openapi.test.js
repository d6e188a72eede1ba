// GET /api/openapi.json is a valid OpenAPI 3.1 document describing the core
// routes and every enabled plugin's, with roles and PHI flags.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Validator } = require('@seriousme/openapi-schema-validator');
const lib = require('./lib');

let d;
before(async () => {
  d = await lib.startDaemon({ config: { plugins: { scheduling: 'on' } } });
});
after(() => d.stop());

test('openapi.json validates as OpenAPI 3.1', async () => {
  const r = await lib.request(d, 'GET', '/api/openapi.json');
  assert.equal(r.status, 200);
  assert.equal(r.json.openapi, '3.1.0');
  const v = new Validator();
  const res = await v.validate(r.json);
  assert.ok(res.valid, JSON.stringify(res.errors, null, 1));
  assert.equal(v.version, '3.1');
});

test('openapi.json lists core and plugin routes with their roles and PHI flags', async () => {
  const spec = (await lib.request(d, 'GET', '/api/openapi.json')).json;
  assert.ok(spec.paths['/healthz'].get);
  assert.deepEqual(spec.paths['/healthz'].get.security, []);
  assert.ok(spec.paths['/api/auth/login'].post);
  assert.deepEqual(spec.paths['/api/plugins'].get['x-atrium-roles'], ['admin']);
  assert.ok(spec.paths['/api/scheduling/appointments'].post, 'scheduling routes present');
  const phi = Object.values(spec.paths).flatMap((p) => Object.values(p))
    .filter((op) => op['x-atrium-phi']);
  assert.ok(phi.length > 0, 'some route is flagged as touching patient data');
  for (const [p, item] of Object.entries(spec.paths))
    for (const op of Object.values(item))
      for (const prm of op.parameters) assert.ok(p.includes(`{${prm.name}}`));
});
