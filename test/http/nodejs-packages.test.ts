/**
 * Node.js scripts with npm packages, ES modules and TypeScript through the whole service (issue
 * 14, points 4 and 5): its runtime processes, real PostgreSQL, a scratch package store filled by
 * the operator command. Bundles are kept in PostgreSQL: a second replica on the same database
 * reuses the first one's instead of building it again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { RunningService } from '../../src/main/service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { scratchPackageStore } from '../helpers/package-store.js';
import { call, execute, initialize, startTestService } from '../helpers/service.js';

const LODASH_SCRIPT = 'import _ from "lodash";\nexport default (event) => _.chunk(event.params.xs, 2);';

/** The bundler's counters in /health (the Node.js runtime's details). */
async function bundleCounts(service: RunningService): Promise<Record<string, number>> {
  const health = await call(service, 'GET', '/health');
  return health.body.components.runtimes.nodejs.bundles as Record<string, number>;
}

describe('Node.js packages, ES modules and TypeScript (service, runtime processes, real PostgreSQL)', () => {
  let db: TestDatabase;
  let service: RunningService;
  let packagesDir: string;

  before(async () => {
    db = await createTestDatabase();
    packagesDir = (await scratchPackageStore('http', ['lodash@4.17.21'])).root;
    service = await startTestService({ DATABASE_URL: db.url, NODEJS_PACKAGES_DIR: packagesDir });
  });
  after(async () => {
    await service?.stop();
    await db?.drop();
  });

  it('bundles a script with a declared package once, and keeps the bundle in PostgreSQL', async () => {
    const first = await initialize(service, 'nodejs-chunks', { script_content: LODASH_SCRIPT, dependencies: { lodash: '4.17.21' } });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual((await execute(service, first.body.request_id as string, { xs: [1, 2, 3] })).body.result, [[1, 2], [3]]);
    // Declared in the context instead, the same script and packages: the same bundle.
    const second = await initialize(service, 'nodejs-chunks', { script_content: LODASH_SCRIPT, context: { dependencies: { lodash: '^4.17.0' } } });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.deepEqual((await execute(service, second.body.request_id as string, { xs: [4] })).body.result, [[4]]);
    const counts = await bundleCounts(service);
    assert.equal(counts.built, 1);
    assert.ok((counts.memory_hits ?? 0) >= 1, JSON.stringify(counts));
    const stored = await db.query<{ n: string }>("SELECT count(*) AS n FROM meta.compiled_modules WHERE toolchain LIKE 'esbuild-%'");
    assert.equal(Number(stored[0]?.n), 1);
  });

  it('lets another replica reuse the bundle from PostgreSQL instead of building it', async () => {
    const replica = await startTestService({ DATABASE_URL: db.url, NODEJS_PACKAGES_DIR: packagesDir });
    try {
      const init = await initialize(replica, 'nodejs-chunks', { script_content: LODASH_SCRIPT, dependencies: { lodash: '4.17.21' } });
      assert.equal(init.status, 200, JSON.stringify(init.body));
      assert.deepEqual((await execute(replica, init.body.request_id as string, { xs: [5, 6] })).body.result, [[5, 6]]);
      const counts = await bundleCounts(replica);
      assert.equal(counts.built, 0, JSON.stringify(counts));
      assert.equal(counts.store_hits, 1, JSON.stringify(counts));
    } finally {
      await replica.stop();
    }
  });

  it('answers COMPILATION_ERROR naming the package, the module or the problem', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ script_content: 'import x from "left-pad";\nexport default () => x;' }, /left-pad is not declared in "dependencies"/],
      [{ script_content: 'export default () => 1;', dependencies: { 'left-pad': '1.3.0' } }, /left-pad is not in the package store/],
      [{ script_content: 'export default () => 1;', dependencies: { lodash: '^3' } }, /has lodash@4\.17\.21, which does not satisfy "\^3"/],
      [{ script_content: 'export default () => 1;', dependencies: { '../lodash': '1' } }, /is not an npm package name/],
      [{ script_content: 'import fs from "node:fs";\nexport default () => fs;' }, /the Node\.js module "fs" is not available in the sandbox/],
      [{ script_content: 'const fs = require("fs");\nmodule.exports = () => 1;' }, /the Node\.js module "fs" is not available in the sandbox/],
    ];
    for (const [body, message] of cases) {
      const answer = await initialize(service, 'nodejs-refused', body);
      assert.equal(answer.status, 400, JSON.stringify(answer.body));
      assert.equal(answer.body.error.code, 'COMPILATION_ERROR');
      assert.match(answer.body.error.message, message);
    }
    const python = await initialize(service, 'python-deps', { script_content: 'result = 1', dependencies: { lodash: '4.17.21' } });
    assert.equal(python.status, 400);
    assert.equal(python.body.error.code, 'INVALID_REQUEST');
  });

  it('runs TypeScript for a typescript- Language-Title, with its errors in TypeScript lines and columns', async () => {
    const ok = await initialize(service, 'typescript-double', { script_content: 'interface P { n: number }\nexport const handler = async (event: { params: P }): Promise<number> => event.params.n * 2;' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await execute(service, ok.body.request_id as string, { n: 21 })).body.result, 42);
    const bad = await initialize(service, 'typescript-bad', { script_content: 'const a: number = 1;\nconst b: string = ;\nexport default () => a;' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'COMPILATION_ERROR');
    assert.equal(bad.body.error.details.line, 2);
    assert.equal(bad.body.error.details.column, 19);
    assert.match(bad.body.error.details.diagnostics, /^script\.ts:2:19\n/);
  });

  it('registers a function with its packages; its sessions get them', async () => {
    const registered = await call(service, 'POST', '/api/v1/functions', {
      body: { language_title: 'typescript-chunker', script_content: 'import { chunk } from "lodash";\nexport default (event: { params: { xs: number[] } }) => chunk(event.params.xs, 3);', dependencies: { lodash: '4.17.21' } },
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    assert.deepEqual(registered.body.dependencies, { lodash: '4.17.21' });
    const init = await initialize(service, 'typescript-chunker', {});
    assert.equal(init.status, 200, JSON.stringify(init.body));
    assert.deepEqual((await execute(service, init.body.request_id as string, { xs: [1, 2, 3, 4] })).body.result, [[1, 2, 3], [4]]);
    const refused = await call(service, 'POST', '/api/v1/functions', { body: { language_title: 'nodejs-nope', script_content: 'export default () => 1;', dependencies: { 'left-pad': '1' } } });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, 'COMPILATION_ERROR');
  });

  it('lists the store\'s packages in GET /api/v1/runtimes', async () => {
    const answer = await call(service, 'GET', '/api/v1/runtimes');
    assert.equal(answer.status, 200);
    const nodejs = (answer.body.runtimes as Array<Record<string, any>>).find((r) => r.language === 'nodejs');
    assert.deepEqual(nodejs?.packages, [{ name: 'lodash', version: '4.17.21' }]);
  });
});
