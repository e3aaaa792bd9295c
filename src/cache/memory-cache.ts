import { LRUCache } from 'lru-cache';
import type { CacheHealth, SharedCache } from './shared-cache.js';

export interface MemoryCacheOptions {
  /** Entries kept; the least recently used go first. */
  readonly maxEntries: number;
  /** Bytes of values kept (string length as the measure). */
  readonly maxBytes: number;
}

/** The embedded default: one process, one machine; same semantics as the Redis cache. */
export class MemoryCache implements SharedCache {
  readonly kind = 'memory' as const;
  readonly #lru: LRUCache<string, string>;
  readonly #subscribers = new Map<string, ((message: string) => void)[]>();

  constructor(options: MemoryCacheOptions) {
    this.#lru = new LRUCache<string, string>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (value, key) => value.length + key.length,
      ttlAutopurge: false,
    });
  }

  get(key: string): Promise<string | undefined> {
    return Promise.resolve(this.#lru.get(key));
  }

  set(key: string, value: string, ttlSeconds: number): Promise<void> {
    if (ttlSeconds > 0) this.#lru.set(key, value, { ttl: ttlSeconds * 1000 });
    return Promise.resolve();
  }

  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.#lru.has(key)) return Promise.resolve(false);
    this.#lru.set(key, value, { ttl: ttlMs });
    return Promise.resolve(true);
  }

  del(key: string): Promise<void> {
    this.#lru.delete(key);
    return Promise.resolve();
  }

  publish(channel: string, message: string): Promise<void> {
    for (const handler of this.#subscribers.get(channel) ?? []) handler(message);
    return Promise.resolve();
  }

  subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    this.#subscribers.set(channel, [...(this.#subscribers.get(channel) ?? []), handler]);
    return Promise.resolve();
  }

  health(): CacheHealth {
    return { status: 'up', kind: 'memory', entries: this.#lru.size };
  }

  close(): Promise<void> {
    this.#lru.clear();
    return Promise.resolve();
  }
}
