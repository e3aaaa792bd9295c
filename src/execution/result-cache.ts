/**
 * The result cache: a script's result for given params, kept CACHE_TTL_SECONDS in the shared cache,
 * keyed by everything that could make two runs differ or that must not be crossed:
 * - the language and the session's script hash;
 * - the owner (the session's user): a result is never served to another owner;
 * - the scope: for a runtime whose warm instances keep module state (Node.js, Python) the session
 *   itself, unless the session opted in to sharing (`context.cache: "shared"`), since a result
 *   may carry what an earlier call of that session left in its state; for one without (Rust/WASI,
 *   a fresh instance per call) every session of the owner;
 * - params and context exactly as the script sees them, key order included (an object's key
 *   order is visible to a script, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are different inputs).
 * `X-Cache-Control: no-cache` bypasses it (and refreshes the entry),
 * `max-age=N` sets the entry's TTL. Concurrent identical misses run the script once: in this
 * process by sharing one promise, across replicas by a short lock in the shared cache.
 */
import { createHash } from 'node:crypto';
import type { SharedCache } from '../cache/shared-cache.js';
import { ServiceError } from '../errors/service-error.js';

export interface CachedResult {
  readonly result: unknown;
  readonly memoryUsageBytes: number | null;
  readonly executionTimeMs: number;
}

export interface CacheControl {
  /** Skip the lookup (the fresh result still replaces the entry). */
  readonly bypass: boolean;
  readonly ttlSeconds: number;
}

export interface ResultCacheOptions {
  readonly cache: SharedCache;
  readonly defaultTtlSeconds: number;
  readonly onHit?: () => void;
  readonly onMiss?: () => void;
}

/** What a cached result is keyed by (see the top of this file). */
export interface ResultKey {
  readonly language: string;
  readonly scriptHash: string;
  /** The session's user ('' for sessions without one). */
  readonly owner: string;
  /** The session id where results must stay within one session; '' where the owner's sessions share them. */
  readonly scope: string;
  readonly params: unknown;
  readonly context: unknown;
}

/** What a computation gives back: a result worth caching, or anything else (passed through). */
export interface Computed<T> {
  readonly cacheable: CachedResult | undefined;
  readonly value: T;
}

export type CacheOutcome<T> = { readonly hit: CachedResult } | { readonly computed: Computed<T> };

const MAX_AGE = /^max-age=(\d{1,9})$/;
const LOCK_TTL_MS = 5000;
const LOCK_POLL_MS = 10;

export class ResultCache {
  readonly #o: ResultCacheOptions;
  readonly #inFlight = new Map<string, Promise<unknown>>();

  constructor(options: ResultCacheOptions) {
    this.#o = options;
  }

  key(input: ResultKey): string {
    const inputHash = createHash('sha256')
      .update(input.owner)
      .update('\0')
      .update(input.scope)
      .update('\0')
      .update(JSON.stringify(input.params) ?? 'null')
      .update('\0')
      .update(JSON.stringify(input.context) ?? 'null')
      .digest('hex');
    return `result:${input.language}:${input.scriptHash}:${inputHash}`;
  }

  /** Parses `X-Cache-Control` (`no-cache`, `max-age=N`, or both, comma-separated). */
  control(header: string | undefined): CacheControl {
    let bypass = false;
    let ttlSeconds = this.#o.defaultTtlSeconds;
    if (header === undefined || header.trim() === '') return { bypass, ttlSeconds };
    for (const part of header.split(',').map((p) => p.trim().toLowerCase())) {
      if (part === 'no-cache') bypass = true;
      else if (MAX_AGE.test(part)) ttlSeconds = Number(MAX_AGE.exec(part)?.[1]);
      else if (part !== '') {
        throw new ServiceError('INVALID_REQUEST', 'X-Cache-Control must be "no-cache", "max-age=<seconds>", or both', { header: 'X-Cache-Control' });
      }
    }
    return { bypass, ttlSeconds };
  }

  /**
   * The cached result for `key` (`hit`), or what `compute()` gave (`computed`; stored when
   * cacheable). A caller that waited on an identical run gets that run's result as a hit.
   */
  async run<T>(key: string, control: CacheControl, compute: () => Promise<Computed<T>>): Promise<CacheOutcome<T>> {
    if (!control.bypass) {
      const hit = await this.#lookup(key);
      if (hit) return this.#hit(hit);
      const shared = this.#inFlight.get(key) as Promise<CacheOutcome<T>> | undefined;
      if (shared) {
        const outcome = await shared;
        if ('hit' in outcome) return this.#hit(outcome.hit);
        if (outcome.computed.cacheable) return this.#hit(outcome.computed.cacheable);
        // The shared run gave nothing cacheable (the script failed): this caller runs for itself.
      }
    }
    const work = this.#computeOnce(key, control, compute);
    if (!control.bypass) this.#inFlight.set(key, work);
    try {
      return await work;
    } finally {
      if (this.#inFlight.get(key) === work) this.#inFlight.delete(key);
    }
  }

  #hit<T>(hit: CachedResult): CacheOutcome<T> {
    this.#o.onHit?.();
    return { hit };
  }

  async #computeOnce<T>(key: string, control: CacheControl, compute: () => Promise<Computed<T>>): Promise<CacheOutcome<T>> {
    // Another replica may be computing the same key: wait (briefly) for its result instead.
    const lock = `${key}:lock`;
    const locked = control.bypass || (await this.#o.cache.setIfAbsent(lock, '1', LOCK_TTL_MS));
    if (!locked) {
      const deadline = Date.now() + LOCK_TTL_MS;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
        const hit = await this.#lookup(key);
        if (hit) return this.#hit(hit);
        if ((await this.#o.cache.get(lock)) === undefined) break;
      }
    }
    this.#o.onMiss?.();
    try {
      const computed = await compute();
      if (computed.cacheable && control.ttlSeconds > 0) {
        await this.#o.cache.set(key, JSON.stringify(computed.cacheable), control.ttlSeconds);
      }
      return { computed };
    } finally {
      if (locked && !control.bypass) await this.#o.cache.del(lock);
    }
  }

  async #lookup(key: string): Promise<CachedResult | undefined> {
    const text = await this.#o.cache.get(key);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as CachedResult;
    } catch {
      return undefined;
    }
  }
}
