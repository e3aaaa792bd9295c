/**
 * Calls both ways over one FrameChannel: the service calls its runtime process (prepare,
 * execute, release, health, stop), and the runtime process calls back for what only the service
 * may do (the Rust module store in PostgreSQL). Each frame's header is one message:
 *
 *   {"k":"q","i":7,"o":"execute","b":{...}}   a request (id, operation, body), payload alongside
 *   {"k":"r","i":7,"b":{...}}                  its answer
 *   {"k":"e","i":7,"b":{"code","message","details"}}   its failure
 *   {"k":"n","o":"ready","b":{...}}            a notification (no answer)
 *
 * A handler's ServiceError travels as its code, message and details; anything else as
 * INTERNAL_ERROR. Which codes a peer may send is the receiver's choice (`acceptCodes`): the
 * service does not let a runtime process claim, say, that a script crashed its sandbox.
 */
import type { Duplex } from 'node:stream';

import { isPlainObject } from '../common/plain-object.js';
import { isServiceError, ServiceError, type ErrorCode } from '../errors/service-error.js';
import { FrameChannel } from './frame-channel.js';

export interface FrameMessage {
  readonly body: Record<string, unknown>;
  readonly payload: Buffer;
}

export interface FrameReply {
  readonly body: object;
  readonly payload?: Uint8Array;
}

export type FrameHandler = (body: Record<string, unknown>, payload: Buffer) => Promise<FrameReply>;

export interface FramePeerOptions {
  readonly maxFrameBytes: number;
  /** Error codes taken as they are from the peer; any other arrives as INTERNAL_ERROR. */
  readonly acceptCodes: ReadonlySet<ErrorCode>;
  readonly onViolation: (what: string) => void;
  readonly onClose: () => void;
}

/** The channel closed (the peer exited or broke the protocol) before the call was answered. */
export class PeerClosed extends Error {}

/** The call was not answered within its time limit. */
export class CallTimedOut extends Error {}

interface Pending {
  readonly resolve: (message: FrameMessage) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: NodeJS.Timeout | undefined;
}

const MAX_DETAIL_KEYS = 16;

/** Only short scalar details survive the trip: they are for humans, never for decisions. */
function scalarDetails(value: unknown): Record<string, unknown> {
  if (!isPlainObject(value)) return {};
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value).slice(0, MAX_DETAIL_KEYS)) {
    if (typeof item === 'number' || typeof item === 'boolean') out[key] = item;
    else if (typeof item === 'string') out[key] = item.slice(0, 1000);
  }
  return out;
}

export class FramePeer {
  readonly #channel: FrameChannel;
  readonly #o: FramePeerOptions;
  readonly #handlers = new Map<string, FrameHandler>();
  readonly #listeners = new Map<string, (body: Record<string, unknown>, payload: Buffer) => void>();
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  constructor(socket: Duplex, options: FramePeerOptions) {
    this.#o = options;
    this.#channel = new FrameChannel(socket, {
      maxFrameBytes: options.maxFrameBytes,
      onFrame: (header, payload) => this.#onFrame(header, payload),
      onViolation: options.onViolation,
      onClose: () => {
        const error = new PeerClosed('the other side closed the channel');
        for (const pending of this.#pending.values()) {
          clearTimeout(pending.timer);
          pending.reject(error);
        }
        this.#pending.clear();
        options.onClose();
      },
    });
  }

  get closed(): boolean {
    return this.#channel.closed;
  }

  handle(op: string, handler: FrameHandler): this {
    this.#handlers.set(op, handler);
    return this;
  }

  on(op: string, listener: (body: Record<string, unknown>, payload: Buffer) => void): this {
    this.#listeners.set(op, listener);
    return this;
  }

  call(op: string, body: object, options: { payload?: Uint8Array; timeoutMs?: number } = {}): Promise<FrameMessage> {
    if (this.#channel.closed) return Promise.reject(new PeerClosed('the channel is closed'));
    const id = this.#nextId++;
    return new Promise<FrameMessage>((resolve, reject) => {
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.#pending.delete(id);
              reject(new CallTimedOut(`${op} was not answered within ${options.timeoutMs} ms`));
            }, options.timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#channel.send({ k: 'q', i: id, o: op, b: body }, options.payload);
    });
  }

  notify(op: string, body: object, payload?: Uint8Array): void {
    this.#channel.send({ k: 'n', o: op, b: body }, payload);
  }

  close(): void {
    this.#channel.close();
  }

  #onFrame(header: Record<string, unknown>, payload: Buffer): void {
    const body = isPlainObject(header.b) ? header.b : {};
    switch (header.k) {
      case 'q':
        return this.#onRequest(header.i, header.o, body, payload);
      case 'n': {
        const listener = typeof header.o === 'string' ? this.#listeners.get(header.o) : undefined;
        if (!listener) return this.#o.onViolation(`a notification nobody listens to (${String(header.o).slice(0, 40)})`);
        return listener(body, payload);
      }
      case 'r':
      case 'e': {
        const pending = typeof header.i === 'number' ? this.#pending.get(header.i) : undefined;
        // A late answer to a call that timed out is dropped; an answer to a call never made is a violation.
        if (!pending) {
          if (typeof header.i === 'number' && header.i > 0 && header.i < this.#nextId) return;
          return this.#o.onViolation('an answer to a call nobody made');
        }
        this.#pending.delete(header.i as number);
        clearTimeout(pending.timer);
        if (header.k === 'r') return pending.resolve({ body, payload });
        return pending.reject(this.#errorFrom(body));
      }
      default:
        return this.#o.onViolation('a frame of an unknown kind');
    }
  }

  #onRequest(id: unknown, op: unknown, body: Record<string, unknown>, payload: Buffer): void {
    if (typeof id !== 'number') return this.#o.onViolation('a request without an id');
    const handler = typeof op === 'string' ? this.#handlers.get(op) : undefined;
    if (!handler) {
      this.#channel.send({ k: 'e', i: id, b: { code: 'INVALID_REQUEST', message: `unknown operation ${String(op).slice(0, 40)}`, details: {} } });
      return;
    }
    let work: Promise<FrameReply>;
    try {
      work = handler(body, payload);
    } catch (error) {
      work = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    work.then(
      (reply) => this.#channel.send({ k: 'r', i: id, b: reply.body }, reply.payload),
      (error: unknown) => {
        const code = isServiceError(error) ? error.code : 'INTERNAL_ERROR';
        const message = error instanceof Error ? error.message : String(error);
        this.#channel.send({ k: 'e', i: id, b: { code, message, details: isServiceError(error) ? scalarDetails(error.details) : {} } });
      },
    );
  }

  #errorFrom(body: Record<string, unknown>): ServiceError {
    const code = typeof body.code === 'string' && this.#o.acceptCodes.has(body.code as ErrorCode) ? (body.code as ErrorCode) : 'INTERNAL_ERROR';
    const message = typeof body.message === 'string' ? body.message.slice(0, 2000) : 'the other side failed without a reason';
    return new ServiceError(code, message, scalarDetails(body.details));
  }
}
