/**
 * The scripts a runtime has prepared, by hash, least recently used first out (lru-cache): bounded
 * by count and by total bytes. A script larger than the byte bound counts as the whole bound, so
 * the newest is kept even when it alone is over it. `dispose` frees what a runtime built from a
 * script whenever one leaves (evicted, replaced, deleted or cleared).
 */
import { LRUCache } from 'lru-cache';

export interface CachedScript {
  readonly bytes: number;
}

export type ScriptCache<T extends CachedScript> = LRUCache<string, T>;

export function createScriptCache<T extends CachedScript>(maxScripts: number, maxBytes: number, dispose?: (script: T, hash: string) => void): ScriptCache<T> {
  return new LRUCache<string, T>({
    max: maxScripts,
    maxSize: maxBytes,
    sizeCalculation: (script) => Math.max(1, Math.min(script.bytes, maxBytes)),
    ...(dispose ? { dispose } : {}),
  });
}
