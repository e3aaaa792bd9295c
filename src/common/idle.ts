/**
 * Waiting for "nothing runs any more": a runtime's graceful stop, a pool's drain, a writer's
 * flush. Whoever finishes the last piece of work calls `notify()`; `waitAtMost` bounds a wait by a
 * grace period.
 */
export class IdleWaiters {
  #waiters: (() => void)[] = [];

  /** Resolves at the next `notify()`. */
  next(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  get waiting(): boolean {
    return this.#waiters.length > 0;
  }

  /** Resolves everyone waiting. */
  notify(): void {
    for (const resolve of this.#waiters.splice(0)) resolve();
  }
}

/** Waits for `done` at most `graceMs`; true if it came first. */
export async function waitAtMost(done: Promise<unknown>, graceMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), graceMs);
  });
  try {
    return await Promise.race([done.then(() => true as const), grace]);
  } finally {
    clearTimeout(timer);
  }
}
