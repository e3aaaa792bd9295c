/**
 * Calls waiting for a worker (an isolate, a WebAssembly worker), oldest first, each for at most its
 * own time: a call that waits longer is refused (the runtime is saturated, which is not the
 * script's fault: its timeout counts from when it runs).
 */
interface Entry<W, R> {
  readonly item: W;
  readonly resolve: (value: R) => void;
  readonly reject: (error: unknown) => void;
  timer: NodeJS.Timeout | undefined;
}

export class DeadlineQueue<W, R> {
  #entries: Entry<W, R>[] = [];

  get length(): number {
    return this.#entries.length;
  }

  /**
   * Queues `item` until `handOldest` gives it a value; after `maxWaitMs` it leaves the queue and its
   * promise rejects with `expired(queuedAfter)`, then `afterExpiry` runs (e.g. to dispatch again).
   */
  wait(item: W, maxWaitMs: number, expired: (queued: number) => Error, afterExpiry?: () => void): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const entry: Entry<W, R> = { item, resolve, reject, timer: undefined };
      entry.timer = setTimeout(() => {
        const index = this.#entries.indexOf(entry);
        if (index === -1) return;
        this.#entries.splice(index, 1);
        reject(expired(this.#entries.length));
        afterExpiry?.();
      }, maxWaitMs);
      this.#entries.push(entry);
    });
  }

  /** The oldest waiting item. */
  oldest(): W | undefined {
    return this.#entries[0]?.item;
  }

  /** Gives the oldest waiting call its value; false when none waits. */
  handOldest(value: R): boolean {
    const entry = this.#entries.shift();
    if (!entry) return false;
    clearTimeout(entry.timer);
    entry.resolve(value);
    return true;
  }

  /**
   * Walks the waiting calls oldest first and gives each the value `pick` finds for it (a call
   * `pick` finds nothing for keeps its place); returns how many were given one.
   */
  handOut(pick: (item: W) => R | undefined): number {
    let handed = 0;
    for (let i = 0; i < this.#entries.length; ) {
      const entry = this.#entries[i] as Entry<W, R>;
      const value = pick(entry.item);
      if (value === undefined) {
        i += 1;
        continue;
      }
      this.#entries.splice(i, 1);
      clearTimeout(entry.timer);
      entry.resolve(value);
      handed += 1;
    }
    return handed;
  }

  /** Refuses every waiting call. */
  rejectAll(error: (item: W) => unknown): void {
    for (const entry of this.#entries.splice(0)) {
      clearTimeout(entry.timer);
      entry.reject(error(entry.item));
    }
  }
}
