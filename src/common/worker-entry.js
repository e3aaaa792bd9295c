// The entry of the service's worker threads (params validation, the request log writer): loads the worker's module,
// compiled (dist/) or, when the service runs from its TypeScript sources, through tsx, which a
// worker thread does not inherit from its parent.
import { workerData } from 'node:worker_threads';

if (workerData.fromSources) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.module);
