/**
 * Single flight: concurrent calls for one key share one run of the work (the first caller's);
 * once it settles, the next call runs it again. Prepares of one script, loads of one module.
 */
export class SingleFlight<K, V> {
  readonly #running = new Map<K, Promise<V>>();

  /** The run in flight for `key`, or a new one of `work`. */
  run(key: K, work: () => Promise<V>): Promise<V> {
    const running = this.#running.get(key);
    if (running) return running;
    const started = work().finally(() => this.#running.delete(key));
    this.#running.set(key, started);
    return started;
  }

  /** Runs in flight. */
  get size(): number {
    return this.#running.size;
  }
}
