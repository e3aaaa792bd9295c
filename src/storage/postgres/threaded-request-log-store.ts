/**
 * A RequestLogStore whose writes run on a worker thread (request-log-worker.ts) with connections
 * of its own. A batch is copied to the thread (structured clone) and serialised there; the service
 * thread only waits for the answer. A thread that dies fails the writes it had (the BatchWriter
 * keeps and retries them) and is started again by the next write.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type pg from 'pg';
import { projectPath } from '../../config/paths.js';
import type { RequestLogEntry, RequestLogStore } from '../request-log.js';
import type { RequestLogWorkerAnswer, RequestLogWorkerData } from './request-log-worker.js';

interface Pending {
  resolve: () => void;
  reject: (error: Error) => void;
}

export class ThreadedRequestLogStore implements RequestLogStore {
  readonly #connection: pg.PoolConfig;
  readonly #onUnstorable: ((id: string, message: string) => void) | undefined;
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;

  constructor(connection: pg.PoolConfig, onUnstorable?: (id: string, message: string) => void) {
    this.#connection = connection;
    this.#onUnstorable = onUnstorable;
  }

  writeBatch(batch: readonly RequestLogEntry[]): Promise<void> {
    const worker = this.#worker ?? this.#spawn();
    const id = this.#nextId++;
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ id, batch });
    });
  }

  /** Ends the thread and its connections (after the writer has flushed). */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('close');
    const force = setTimeout(() => void worker.terminate(), 5000);
    await exited;
    clearTimeout(force);
  }

  #spawn(): Worker {
    const fromSources = fileURLToPath(import.meta.url).endsWith('.ts');
    const module = fromSources ? projectPath('src', 'storage', 'postgres', 'request-log-worker.ts') : projectPath('dist', 'src', 'storage', 'postgres', 'request-log-worker.js');
    const workerData: RequestLogWorkerData & { fromSources: boolean; module: string } = { connection: this.#connection, fromSources, module: `file://${module}` };
    const worker = new Worker(projectPath('src', 'common', 'worker-entry.js'), { workerData, execArgv: [], stdout: false, stderr: false });
    worker.unref();
    worker.on('message', (answer: RequestLogWorkerAnswer) => {
      if ('unstorable' in answer) {
        this.#onUnstorable?.(answer.unstorable.id, answer.unstorable.message);
        return;
      }
      const pending = this.#pending.get(answer.id);
      if (!pending) return;
      this.#pending.delete(answer.id);
      if (answer.ok) pending.resolve();
      else pending.reject(Object.assign(new Error(answer.message), { code: answer.code }));
    });
    const failAll = (error: Error): void => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const [id, pending] of this.#pending) {
        this.#pending.delete(id);
        pending.reject(error);
      }
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`the request log writer thread exited (${code})`)));
    this.#worker = worker;
    return worker;
  }
}
