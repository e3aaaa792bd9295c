import { ServiceError } from '../errors/service-error.js';

export interface JsonLimits {
  readonly maxBytes: number;
  readonly maxDepth: number;
}

/**
 * Refuses (400) a JSON value nested deeper than `maxDepth` or larger than `maxBytes` once
 * serialised; its size in bytes otherwise. The depth walk is iterative: a hostile nesting cannot
 * overflow the stack.
 */
export function assertJsonLimits(value: unknown, field: string, limits: JsonLimits): number {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop() as { value: unknown; depth: number };
    if (current === null || typeof current !== 'object') continue;
    if (depth >= limits.maxDepth) {
      throw new ServiceError('INVALID_REQUEST', `"${field}" is nested deeper than ${limits.maxDepth} levels`, { field, max_depth: limits.maxDepth });
    }
    for (const child of Object.values(current as Record<string, unknown>)) stack.push({ value: child, depth: depth + 1 });
  }
  const bytes = Buffer.byteLength(JSON.stringify(value) ?? '');
  if (bytes > limits.maxBytes) {
    throw new ServiceError('INVALID_REQUEST', `"${field}" is ${bytes} bytes of JSON; the limit is ${limits.maxBytes}`, { field, max_bytes: limits.maxBytes }, 413);
  }
  return bytes;
}
