/**
 * A bounded ring of the most recent log lines, as a writable stream a logger writes to (teeing
 * to another stream), so an operator can read a runtime server's recent logs over gRPC (GetLogs)
 * without shell access to its machine.
 */
import { Writable } from 'node:stream';

export class LogRing extends Writable {
  readonly #capacity: number;
  readonly #lines: string[] = [];
  readonly #forward: NodeJS.WritableStream | undefined;
  #partial = '';

  constructor(capacity: number, forward?: NodeJS.WritableStream) {
    super({ decodeStrings: false });
    this.#capacity = Math.max(1, capacity);
    this.#forward = forward;
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    this.#forward?.write(text);
    const parts = (this.#partial + text).split('\n');
    this.#partial = parts.pop() ?? '';
    for (const line of parts) if (line.length > 0) this.#push(line);
    callback();
  }

  #push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.#capacity) this.#lines.shift();
  }

  /** The last `limit` lines (all kept lines when 0 or absent), oldest first. */
  lines(limit = 0): string[] {
    return limit > 0 ? this.#lines.slice(-limit) : [...this.#lines];
  }
}
