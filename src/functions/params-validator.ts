/**
 * Validation of execute params against a registered function's schema, kept off the service's
 * thread whenever it could take long. Registration keeps every keyword linear (params-schema.ts),
 * but linear in what? In the params times the schema: `items: { enum: [10,000 values] }` over
 * 30,000 items took 1.6 s, and that cost is the product of two bounded sizes, both the caller's.
 * So:
 * - a validation whose worst case is small (schema weight × params bytes within INLINE_BUDGET, a
 *   schema of at most INLINE_MAX_WEIGHT nodes) runs inline, as before: no hop for the usual
 *   small params;
 * - any other runs on a worker thread (params-worker.ts) with a time limit: past it the worker is
 *   terminated and replaced, and the call is refused with INVALID_PARAMS naming the limit.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';

import { projectPath } from '../config/paths.js';
import { ServiceError } from '../errors/service-error.js';
import type { Logger } from '../observability/logger.js';
import { compileParamsSchema, createParamsAjv } from './params-schema.js';

export type ParamsVerdict =
  | { readonly valid: true; readonly params: unknown }
  | { readonly valid: false; readonly message: string; readonly errors: readonly ErrorObject[] };

export interface ParamsValidatorOptions {
  readonly logger: Logger;
  /** Time a validation may take on a worker (default 1000 ms). */
  readonly timeoutMs?: number;
  /** Worker threads at most (default 2). */
  readonly workers?: number;
  /** Validations waiting for a worker at most; more are refused with 503 (default 256). */
  readonly maxQueue?: number;
}

/** Schema nodes × params bytes a validation may reach and still run inline (a few ms at worst). */
export const INLINE_BUDGET = 4_000_000;
/** Schemas bigger than this (in JSON nodes) always go to a worker, compile included. */
export const INLINE_MAX_WEIGHT = 2000;
const WORKER_HEAP_MB = 128;
/** What a worker may take on top of the limit when it starts and compiles the schema first. */
const COMPILE_ALLOWANCE_MS = 5000;

interface Job {
  readonly id: number;
  readonly key: string;
  readonly schema: Record<string, unknown>;
  readonly params: unknown;
  readonly resolve: (verdict: WorkerAnswer) => void;
  readonly reject: (error: unknown) => void;
}

interface WorkerAnswer {
  readonly id: number;
  readonly valid?: boolean;
  readonly params?: unknown;
  readonly errors?: ErrorObject[];
  readonly message?: string;
  readonly unusable?: string;
  readonly missing?: boolean;
  readonly failed?: string;
}

interface Slot {
  readonly worker: Worker;
  /** Schema keys this worker has compiled. */
  readonly known: Set<string>;
  job: Job | undefined;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Violations reported at most, each with its own params (the allowed values of an enum...): with
 * all errors collected, 30,000 items outside a 10,000-value enum made an error body of 30,000
 * copies of the enum (gigabytes).
 */
export const MAX_VIOLATIONS = 20;

/** The first violations and a message naming how many there were; the same in the worker and inline. */
export function summarizeViolations(ajv: Ajv, errors: readonly ErrorObject[] | null | undefined): { message: string; errors: ErrorObject[] } {
  const all = errors ?? [];
  const kept = all.slice(0, MAX_VIOLATIONS);
  const more = all.length - kept.length;
  return { message: `${ajv.errorsText(kept, { dataVar: 'params' })}${more > 0 ? `, and ${more} more violation${more === 1 ? '' : 's'}` : ''}`, errors: kept };
}

/** JSON nodes of a schema: what one data node may be checked against, at worst. */
function weightOf(schema: unknown): number {
  let weight = 0;
  const stack: unknown[] = [schema];
  while (stack.length > 0) {
    const value = stack.pop();
    weight++;
    if (value !== null && typeof value === 'object') for (const child of Object.values(value as Record<string, unknown>)) stack.push(child);
  }
  return weight;
}

export class ParamsValidator {
  readonly #o: Required<ParamsValidatorOptions>;
  readonly #ajv: Ajv = createParamsAjv();
  /** Per schema key: its weight, and the inline validator (undefined: unusable, or too heavy to compile inline). */
  readonly #schemas = new Map<string, { weight: number; validate: ValidateFunction | undefined; unusable: string | undefined }>();
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  #nextId = 1;
  #stopped = false;

  constructor(options: ParamsValidatorOptions) {
    this.#o = { timeoutMs: 1000, workers: 2, maxQueue: 256, ...options };
  }

  /** Checks `params` (its JSON is `paramsBytes` long) against the schema known as `key`. */
  async validate(key: string, schema: Record<string, unknown>, params: unknown, paramsBytes: number): Promise<ParamsVerdict> {
    const known = this.#known(key, schema);
    if (known.unusable !== undefined) return { valid: true, params };
    if (known.validate && known.weight * Math.max(1, paramsBytes) <= INLINE_BUDGET) {
      return known.validate(params) ? { valid: true, params } : { valid: false, ...summarizeViolations(this.#ajv, known.validate.errors) };
    }
    const answer = await this.#onWorker(key, schema, params);
    if (answer.unusable !== undefined) {
      this.#unusable(key, known.weight, answer.unusable);
      return { valid: true, params };
    }
    if (answer.failed !== undefined) return { valid: false, message: `params could not be validated: ${answer.failed}`, errors: [] };
    return answer.valid ? { valid: true, params: answer.params } : { valid: false, message: answer.message ?? 'params do not match', errors: answer.errors ?? [] };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const job of this.#queue.splice(0)) job.reject(new ServiceError('SERVICE_UNAVAILABLE', 'the service is stopping'));
    await Promise.all(this.#slots.splice(0).map((slot) => slot.worker.terminate()));
  }

  #known(key: string, schema: Record<string, unknown>): { weight: number; validate: ValidateFunction | undefined; unusable: string | undefined } {
    let known = this.#schemas.get(key);
    if (known) return known;
    const weight = weightOf(schema);
    known = { weight, validate: undefined, unusable: undefined };
    if (weight <= INLINE_MAX_WEIGHT) {
      const compiled = compileParamsSchema(this.#ajv, schema);
      if ('validate' in compiled) known.validate = compiled.validate;
      else return this.#unusable(key, weight, compiled.error);
    }
    this.#schemas.set(key, known);
    return known;
  }

  /** A schema stored before the registration checks that fails them: not run at all, params unvalidated (and said once). */
  #unusable(key: string, weight: number, reason: string): { weight: number; validate: undefined; unusable: string } {
    const entry = { weight, validate: undefined, unusable: reason };
    this.#schemas.set(key, entry);
    this.#o.logger.error({ schema: key, reason }, 'function params schema cannot be used; params are not validated');
    return entry;
  }

  #onWorker(key: string, schema: Record<string, unknown>, params: unknown): Promise<WorkerAnswer> {
    if (this.#stopped) return Promise.reject(new ServiceError('SERVICE_UNAVAILABLE', 'the service is stopping'));
    if (this.#queue.length >= this.#o.maxQueue) {
      return Promise.reject(new ServiceError('SERVICE_UNAVAILABLE', `params validation is saturated: ${this.#queue.length} validations are waiting`, { queued: this.#queue.length }));
    }
    return new Promise<WorkerAnswer>((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, key, schema, params, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const job = this.#queue[0] as Job;
      let slot = this.#slots.find((s) => !s.job && s.known.has(job.key)) ?? this.#slots.find((s) => !s.job);
      if (!slot && this.#slots.length < this.#o.workers) slot = this.#spawn();
      if (!slot) return;
      this.#queue.shift();
      this.#run(slot, job);
    }
  }

  #run(slot: Slot, job: Job): void {
    slot.job = job;
    const withSchema = !slot.known.has(job.key);
    slot.known.add(job.key);
    slot.timer = setTimeout(
      () => {
        this.#replace(slot);
        job.resolve({ id: job.id, valid: false, message: `validating params against the function's schema took longer than ${this.#o.timeoutMs} ms: the params are too large for this schema`, errors: [] });
      },
      withSchema ? this.#o.timeoutMs + COMPILE_ALLOWANCE_MS : this.#o.timeoutMs,
    );
    slot.worker.postMessage({ id: job.id, key: job.key, ...(withSchema ? { schema: job.schema } : {}), params: job.params });
  }

  #spawn(): Slot {
    const fromSources = fileURLToPath(import.meta.url).endsWith('.ts');
    const module = fromSources ? projectPath('src', 'functions', 'params-worker.ts') : projectPath('dist', 'src', 'functions', 'params-worker.js');
    const worker = new Worker(projectPath('src', 'common', 'worker-entry.js'), {
      workerData: { fromSources, module: `file://${module}` },
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
      execArgv: [],
      stdout: false,
      stderr: false,
    });
    worker.unref();
    const slot: Slot = { worker, known: new Set(), job: undefined, timer: undefined };
    worker.on('message', (answer: WorkerAnswer) => {
      const job = slot.job;
      if (!job || answer.id !== job.id) return;
      clearTimeout(slot.timer);
      slot.job = undefined;
      if (answer.missing) {
        // The worker lost the schema (it cannot, short of a restart): send it again.
        slot.known.delete(job.key);
        this.#queue.unshift(job);
      } else {
        job.resolve(answer);
      }
      this.#dispatch();
    });
    worker.on('error', (error) => {
      const job = slot.job;
      this.#replace(slot);
      job?.resolve({ id: job.id, valid: false, message: `validating params failed: ${error.message}`, errors: [] });
    });
    this.#slots.push(slot);
    return slot;
  }

  /** Ends a worker (its validation ran too long, or it died) and lets the queue go on with a new one. */
  #replace(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.job = undefined;
    const index = this.#slots.indexOf(slot);
    if (index !== -1) this.#slots.splice(index, 1);
    slot.worker.removeAllListeners('message');
    slot.worker.terminate().catch(() => undefined);
    if (!this.#stopped) this.#dispatch();
  }
}
