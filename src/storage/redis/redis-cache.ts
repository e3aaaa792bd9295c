/**
 * The shared cache on Redis (ioredis). Commands never wait on a dead or slow Redis: no offline
 * queue (a command while disconnected fails at once), a per-command timeout, and reconnection in
 * the background with backoff. Every failure is a miss; `health()` says whether Redis is up.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../../observability/logger.js';
import type { CacheHealth, SharedCache } from '../../cache/shared-cache.js';

export interface RedisCacheOptions {
  readonly url: string;
  readonly logger: Logger;
  /** Longest a command may take before it counts as failed (default 100 ms). */
  readonly commandTimeoutMs: number;
  /** Put before every key and channel name. */
  readonly keyPrefix: string;
  /** Called when Redis is back after being down: messages published meanwhile were lost. */
  readonly onReconnect?: () => void;
  readonly onStatusChange?: (up: boolean) => void;
}

export class RedisCache implements SharedCache {
  readonly kind = 'redis' as const;
  readonly #client: Redis;
  readonly #subscriber: Redis;
  readonly #logger: Logger;
  readonly #handlers = new Map<string, ((message: string) => void)[]>();
  readonly #prefix: string;
  #wasDown = false;
  #lastError: string | undefined;
  #failures = 0;

  constructor(options: RedisCacheOptions) {
    this.#logger = options.logger;
    this.#prefix = options.keyPrefix;
    const common = {
      // ioredis prefixes keys itself; channels are prefixed here.
      keyPrefix: this.#prefix,
      lazyConnect: true,
      connectTimeout: 1000,
      // Reconnect forever, backing off to 2 s between attempts.
      retryStrategy: (times: number) => Math.min(times * 100, 2000),
    };
    this.#client = new Redis(options.url, {
      ...common,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs,
    });
    // The subscriber queues its SUBSCRIBE until connected and re-subscribes after a reconnect.
    this.#subscriber = new Redis(options.url, { ...common, enableOfflineQueue: true, autoResubscribe: true });
    this.#client.on('ready', () => {
      if (this.#wasDown) {
        this.#logger.info('redis is back');
        options.onReconnect?.();
      }
      this.#wasDown = false;
      options.onStatusChange?.(true);
    });
    const down = (error?: Error): void => {
      if (error) this.#lastError = error.message;
      if (!this.#wasDown) this.#logger.warn({ err: error }, 'redis is down; serving without cache');
      this.#wasDown = true;
      options.onStatusChange?.(false);
    };
    this.#client.on('error', (error: Error) => down(error));
    this.#client.on('close', () => down());
    this.#subscriber.on('error', (error: Error) => this.#logger.debug({ err: error }, 'redis subscriber error'));
    this.#subscriber.on('message', (channel: string, message: string) => {
      for (const handler of this.#handlers.get(channel.slice(this.#prefix.length)) ?? []) handler(message);
    });
  }

  /** The command connection, for libraries that speak Redis themselves (the rate limiter). */
  get client(): Redis {
    return this.#client;
  }

  /** Connects in the background: the service starts (and serves) whether or not Redis is up. */
  start(): void {
    this.#client.connect().catch((error: unknown) => this.#logger.warn({ err: error }, 'redis not reachable at start; will retry'));
    this.#subscriber.connect().catch(() => undefined);
  }

  get #ready(): boolean {
    return this.#client.status === 'ready';
  }

  async #attempt<T>(what: string, fallback: T, run: () => Promise<T>): Promise<T> {
    if (!this.#ready) return fallback;
    try {
      return await run();
    } catch (error) {
      this.#failures++;
      this.#lastError = (error as Error).message;
      this.#logger.debug({ err: error, what }, 'redis command failed');
      return fallback;
    }
  }

  async get(key: string): Promise<string | undefined> {
    return this.#attempt('get', undefined, async () => (await this.#client.get(key)) ?? undefined);
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    if (ttlSeconds <= 0) return;
    await this.#attempt('set', undefined, async () => {
      await this.#client.set(key, value, 'EX', ttlSeconds);
    });
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    // Without Redis there is no shared lock: the caller goes ahead alone.
    return this.#attempt('setnx', true, async () => (await this.#client.set(key, value, 'PX', ttlMs, 'NX')) === 'OK');
  }

  async del(key: string): Promise<void> {
    await this.#attempt('del', undefined, async () => {
      await this.#client.del(key);
    });
  }

  async publish(channel: string, message: string): Promise<void> {
    if (!this.#ready) {
      // Nobody else can hear it now; this replica still must.
      for (const handler of this.#handlers.get(channel) ?? []) handler(message);
      return;
    }
    await this.#attempt('publish', undefined, async () => {
      await this.#client.publish(this.#prefix + channel, message);
    });
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    const first = !this.#handlers.has(channel);
    this.#handlers.set(channel, [...(this.#handlers.get(channel) ?? []), handler]);
    if (first) await this.#subscriber.subscribe(this.#prefix + channel).catch((error: unknown) => this.#logger.warn({ err: error, channel }, 'redis subscribe failed; will retry on reconnect'));
  }

  health(): CacheHealth {
    return this.#ready
      ? { status: 'up', kind: 'redis', failed_commands: this.#failures }
      : { status: 'down', kind: 'redis', state: this.#client.status, ...(this.#lastError ? { error: this.#lastError } : {}) };
  }

  async close(): Promise<void> {
    this.#client.disconnect();
    this.#subscriber.disconnect();
    return Promise.resolve();
  }
}
