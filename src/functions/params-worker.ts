/**
 * A worker thread that validates params against registered schemas (params-validator.ts): the
 * heavy validations run here, where a schema and params that take seconds hold only this thread,
 * which the service terminates at its time limit. Schemas arrive once per worker, keyed, and are
 * compiled here.
 */
import { parentPort } from 'node:worker_threads';

import type { ValidateFunction } from 'ajv';

import { compileParamsSchema, createParamsAjv } from './params-schema.js';
import { summarizeViolations } from './params-validator.js';

interface Job {
  readonly id: number;
  readonly key: string;
  readonly schema?: Record<string, unknown>;
  readonly params: unknown;
}

const ajv = createParamsAjv();
const validators = new Map<string, ValidateFunction>();
const port = parentPort;
if (!port) throw new Error('params-worker runs as a worker thread');

port.on('message', (job: Job) => {
  try {
    let validate = validators.get(job.key);
    if (!validate && job.schema) {
      const compiled = compileParamsSchema(ajv, job.schema);
      if ('error' in compiled) {
        port.postMessage({ id: job.id, unusable: compiled.error });
        return;
      }
      validate = compiled.validate;
      validators.set(job.key, validate);
    }
    if (!validate) {
      port.postMessage({ id: job.id, missing: true });
      return;
    }
    const params = job.params;
    const valid = validate(params);
    port.postMessage(valid ? { id: job.id, valid: true, params } : { id: job.id, valid: false, ...summarizeViolations(ajv, validate.errors) });
  } catch (error) {
    port.postMessage({ id: job.id, failed: error instanceof Error ? error.message : String(error) });
  }
});
