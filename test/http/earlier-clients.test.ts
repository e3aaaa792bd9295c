/**
 * The earlier implementation's documented calls, over HTTP against the real service (issue 15,
 * point 7): its catalog examples answer as they did, beside this implementation's forms, and its
 * X-User-ID header names the session's user when authentication is off.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { RunningService } from '../../src/main/service.js';
import { call, execute, initialize, onScratchService } from '../helpers/service.js';

describe('earlier clients: the catalog examples and X-User-ID (real PostgreSQL)', () => {
  let service: RunningService;
  onScratchService({}, (started) => ({ service } = started));

  async function run(languageTitle: string, params: unknown): Promise<unknown> {
    const init = await initialize(service, languageTitle, {});
    assert.equal(init.status, 200, JSON.stringify(init.body));
    const answer = await execute(service, init.body.request_id as string, params);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body.result;
  }

  it('python-text_processor takes the earlier `action` as well as `operation` (operation wins when both are sent)', async () => {
    assert.equal(await run('python-text_processor', { action: 'uppercase', text: 'hello' }), 'HELLO');
    assert.equal(await run('python-text_processor', { operation: 'count_chars', text: 'hello' }), 5);
    assert.equal(await run('python-text_processor', { text: 'hello big world' }), 3);
    assert.equal(await run('python-text_processor', { operation: 'lowercase', action: 'uppercase', text: 'HeLLo' }), 'hello');
  });

  it('rust-data_validator takes rules as a list applied to every field of data, as well as per field', async () => {
    assert.deepEqual(await run('rust-data_validator', { data: { age: 25 }, rules: ['required', 'numeric'] }), { valid: true, errors: [] });
    assert.deepEqual(await run('rust-data_validator', { data: { age: 'x', name: '' }, rules: ['required', 'numeric'] }), { valid: false, errors: ['age must be numeric', 'name is required'] });
    assert.deepEqual(await run('rust-data_validator', { data: { age: 'x' }, rules: { age: ['numeric'] } }), { valid: false, errors: ['age must be numeric'] });
  });

  it('shows both forms in the catalog: schemas and examples, every example answering its result', async () => {
    for (const title of ['python-text_processor', 'rust-data_validator']) {
      const fn = await call(service, 'GET', `/api/v1/functions/${title}`);
      assert.equal(fn.status, 200);
      const examples = fn.body.examples as Array<{ params: unknown; result: unknown }>;
      assert.ok(examples.length >= 2);
      for (const example of examples) assert.deepEqual(await run(title, example.params), example.result, `${title} ${JSON.stringify(example.params)}`);
    }
    const text = await call(service, 'GET', '/api/v1/functions/python-text_processor');
    assert.ok(text.body.schema.params.properties.action);
    const rules = await call(service, 'GET', '/api/v1/functions/rust-data_validator');
    assert.equal(rules.body.schema.params.properties.rules.oneOf.length, 2);
  });

  it('takes the session\'s user from X-User-ID when the context names none (authentication off)', async () => {
    const header = await call(service, 'POST', '/api/v1/initialize', { body: { script_content: 'return context.user_id ?? null;' }, headers: { 'language-title': 'nodejs-who', 'x-user-id': 'earlier-user' } });
    assert.equal(header.status, 200);
    const session = await call(service, 'GET', `/api/v1/sessions/${header.body.request_id as string}`);
    assert.equal(session.body.user_id, 'earlier-user');
    const both = await call(service, 'POST', '/api/v1/initialize', { body: { script_content: 'return 1;', context: { user_id: 'from-context' } }, headers: { 'language-title': 'nodejs-who', 'x-user-id': 'earlier-user' } });
    assert.equal((await call(service, 'GET', `/api/v1/sessions/${both.body.request_id as string}`)).body.user_id, 'from-context');
    const bad = await call(service, 'POST', '/api/v1/initialize', { body: { script_content: 'return 1;' }, headers: { 'language-title': 'nodejs-who', 'x-user-id': 'has spaces in it' } });
    assert.equal((await call(service, 'GET', `/api/v1/sessions/${bad.body.request_id as string}`)).body.user_id ?? null, null);
  });
});
