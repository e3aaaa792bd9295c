/**
 * The scripts a runtime has prepared, by hash, least recently used first out: bounded by count and
 * by total bytes (the newest is kept even if alone over the byte bound). `onEvict` lets a runtime
 * free what it built from an evicted script.
 */
export interface CachedScript {
  readonly hash: string;
  readonly bytes: number;
}

export class ScriptCache<T extends CachedScript> {
  readonly #scripts = new Map<string, T>();
  readonly #maxScripts: number;
  readonly #maxBytes: number;
  readonly #onEvict: (script: T) => void;
  #bytes = 0;

  constructor(maxScripts: number, maxBytes: number, onEvict: (script: T) => void = () => undefined) {
    this.#maxScripts = maxScripts;
    this.#maxBytes = maxBytes;
    this.#onEvict = onEvict;
  }

  get size(): number {
    return this.#scripts.size;
  }

  /** The script, now the most recently used; undefined if not held. */
  get(hash: string): T | undefined {
    const script = this.#scripts.get(hash);
    if (script) {
      this.#scripts.delete(hash);
      this.#scripts.set(hash, script);
    }
    return script;
  }

  set(script: T): void {
    const previous = this.#scripts.get(script.hash);
    if (previous) this.#evict(previous);
    this.#scripts.set(script.hash, script);
    this.#bytes += script.bytes;
    while (this.#scripts.size > this.#maxScripts || (this.#bytes > this.#maxBytes && this.#scripts.size > 1)) {
      const oldest = this.#scripts.values().next().value;
      if (!oldest) break;
      this.#evict(oldest);
    }
  }

  values(): IterableIterator<T> {
    return this.#scripts.values();
  }

  clear(): void {
    this.#scripts.clear();
    this.#bytes = 0;
  }

  #evict(script: T): void {
    this.#scripts.delete(script.hash);
    this.#bytes -= script.bytes;
    this.#onEvict(script);
  }
}
