/**
 * The cache every replica shares: Redis when REDIS_URL is set, else an in-process LRU with the
 * same interface and semantics for one machine. Every operation is bounded in time and never
 * throws: a cache that is down is a cache miss, and the service goes on without it.
 */

export interface CacheHealth {
  readonly status: 'up' | 'down';
  readonly kind: 'redis' | 'memory';
  readonly [detail: string]: unknown;
}

export interface SharedCache {
  readonly kind: 'redis' | 'memory';
  /** The value, or undefined when absent, expired, or the cache cannot answer in time. */
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** Sets only if absent (a short lock); true when this caller set it. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  del(key: string): Promise<void>;
  /** Delivers `message` to every subscriber of `channel` on every replica (this one included). */
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, handler: (message: string) => void): Promise<void>;
  health(): CacheHealth;
  close(): Promise<void>;
}
