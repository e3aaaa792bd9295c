/**
 * The host side of the guest protocol (guest/bootstrap.js): the entry function the host holds, the
 * envelopes it answers with (JSON strings only), and their reading into the runtime's types.
 */
import type ivm from 'isolated-vm';

export type EntryFunction = (op: string, first?: unknown, second?: unknown) => string | Promise<string>;
export type EntryReference = ivm.Reference<EntryFunction>;

export interface GuestError {
  name?: unknown;
  message?: unknown;
  stack?: unknown;
  line?: unknown;
  column?: unknown;
}

export interface Envelope {
  s: 'ok' | 'error' | 'memory' | 'output_limit' | 'timeout' | 'busy';
  r?: unknown;
  e?: GuestError;
  n?: number;
  l?: unknown;
  /** How long the invocation ran, in whole ms of the guest's clock. */
  t?: unknown;
}

export function parseEnvelope(text: string): Envelope {
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || !('s' in parsed)) throw new Error('malformed guest envelope');
  return parsed as Envelope;
}

/**
 * The guest builds envelopes from strings only, so they always parse; should a script still find a
 * way to garble one, that is its own failure, reported to it, not a fault of the service.
 */
export function readEnvelope(text: string): Envelope {
  try {
    return parseEnvelope(text);
  } catch {
    return { s: 'error', e: { name: 'Error', message: 'the runtime could not read what the script returned' } };
  }
}
