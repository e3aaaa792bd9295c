/**
 * A runtime process's log lines (pino JSON on its stderr) into the service's log. The process is
 * untrusted, so lines are bounded in size and in rate; one forwarder serves every incarnation of
 * an endpoint, so a crash loop shares one rate budget too.
 */
import type { Readable } from 'node:stream';

import { isPlainObject } from '../common/plain-object.js';
import type { Logger } from '../observability/logger.js';

const LOG_LINE_BYTES = 16_384;
const LOG_LINES_PER_SECOND = 200;
const PINO_LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

export class ProcessLogForwarder {
  readonly #logger: Logger;
  #budget = { second: 0, lines: 0, dropped: 0 };

  constructor(logger: Logger, address: string) {
    this.#logger = logger.child({ runtimeProcess: address });
  }

  /** Forwards `stderr`'s lines as they come; `onLine` sees each (bounded) line first, rate limit aside. */
  forward(stderr: Readable, onLine: (line: string) => void): void {
    let partial = '';
    stderr.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = (lines.pop() ?? '').slice(0, LOG_LINE_BYTES);
      for (const raw of lines) {
        const line = raw.slice(0, LOG_LINE_BYTES);
        onLine(line);
        if (this.#overBudget()) continue;
        this.#write(line);
      }
    });
    stderr.on('error', () => undefined);
  }

  #overBudget(): boolean {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.#budget.second) {
      if (this.#budget.dropped > 0) this.#logger.warn({ dropped: this.#budget.dropped }, 'runtime process log lines dropped (rate limit)');
      this.#budget = { second, lines: 0, dropped: 0 };
    }
    if (++this.#budget.lines <= LOG_LINES_PER_SECOND) return false;
    this.#budget.dropped++;
    return true;
  }

  /** A pino record keeps its level, message and fields; any other line is logged as a warning, as written. */
  #write(line: string): void {
    let record: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(line);
      if (isPlainObject(parsed)) record = parsed;
    } catch {
      record = undefined;
    }
    if (!record) {
      if (line.trim() !== '') this.#logger.warn({ line }, 'runtime process wrote');
      return;
    }
    const { level, msg, time: _time, ...fields } = record;
    const method = PINO_LEVELS[typeof level === 'number' ? level : 30] ?? 'info';
    this.#logger[method](fields, typeof msg === 'string' ? msg : '');
  }
}
