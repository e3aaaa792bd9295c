/**
 * A runtime served over frames (frame-peer.ts), inside a local runtime process: the counterpart
 * of ProcessRuntime (process-runtime.ts) in the service. The same calls as the gRPC server
 * (runtime-calls.ts); bulky parts travel as the frame's payload rather than inside its JSON:
 *
 *   prepare  body: script_hash, source, compile_options_json    payload: the artifact, if any
 *            answer: ok, compile_ms, error                       payload: the artifact, if any
 *   execute  body: script_hash, instance_key, timeout_ms, remaining_ms   payload: the event JSON
 *            answer: status, error, limit_ms, limit_bytes, message, logs, duration_ms, memory_usage_bytes
 *                                                                payload: the result JSON
 *   release  body: instance_key (a notification: no answer)
 *   health   answer: status, reason, details_json, rss_bytes
 *   stop     answer once the runtime has stopped (graceful, then forced)
 *
 * And the other way, for the Rust runtime: `store.get` / `store.put` ask the service for the
 * compiled-module store it keeps in PostgreSQL (a runtime process has no network).
 */
import { ServiceError } from '../errors/service-error.js';
import type { Runtime } from '../runtimes/runtime.js';
import type { StoredModule, ModuleStore } from '../runtimes/kit/module-store.js';
import type { FramePeer, FrameReply } from './frame-peer.js';
import { createRuntimeCalls, DeadlinePassed, InvalidWireRequest } from './runtime-calls.js';
import { healthToWire, type WireExecuteRequest, type WirePrepareRequest } from './runtime-wire.js';

/** The transport-neutral refusals as the errors a frame carries. */
function asServiceError(error: unknown): unknown {
  if (error instanceof InvalidWireRequest) return new ServiceError('INVALID_REQUEST', error.message);
  if (error instanceof DeadlinePassed) return new ServiceError('RUNTIME_UNAVAILABLE', error.message);
  return error;
}

function field(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  return typeof value === 'string' ? value : '';
}

export function serveRuntimeOverFrames(runtime: Runtime, peer: FramePeer, options: { readonly onStop: () => void }): void {
  // The service serialised every event itself.
  const calls = createRuntimeCalls(runtime, { trustedEvents: true });
  peer
    .handle('prepare', async (body, payload): Promise<FrameReply> => {
      const request: WirePrepareRequest = {
        script_hash: field(body, 'script_hash'),
        source: field(body, 'source'),
        compile_options_json: field(body, 'compile_options_json'),
        ...(payload.length > 0 ? { artifact: new Uint8Array(payload) } : {}),
      };
      try {
        const { artifact, ...rest } = await calls.prepare(request);
        return { body: rest, ...(artifact ? { payload: artifact } : {}) };
      } catch (error) {
        throw asServiceError(error);
      }
    })
    .handle('execute', async (body, payload): Promise<FrameReply> => {
      const request: WireExecuteRequest = {
        script_hash: field(body, 'script_hash'),
        instance_key: field(body, 'instance_key'),
        event_json: payload.toString('utf8'),
        timeout_ms: typeof body.timeout_ms === 'number' ? body.timeout_ms : 0,
      };
      const remaining = typeof body.remaining_ms === 'number' ? body.remaining_ms : Infinity;
      try {
        const { result_json: resultJson, ...rest } = await calls.execute(request, remaining);
        return { body: rest, payload: Buffer.from(resultJson, 'utf8') };
      } catch (error) {
        throw asServiceError(error);
      }
    })
    .on('release', (body) => calls.release(field(body, 'instance_key')))
    .handle('health', () => Promise.resolve({ body: { ...healthToWire(calls.health()), rss_bytes: process.memoryUsage().rss } }))
    .handle('stop', async () => {
      await runtime.stop();
      options.onStop();
      return { body: {} };
    });
}

/** The service's module store, reached over the frames (the runtime process side). */
export class FrameModuleStore implements ModuleStore {
  readonly #peer: FramePeer;

  constructor(peer: FramePeer) {
    this.#peer = peer;
  }

  async get(cacheKey: string): Promise<StoredModule | undefined> {
    const answer = await this.#peer.call('store.get', { key: cacheKey }, { timeoutMs: 10_000 });
    if (answer.body.found !== true || typeof answer.body.toolchain !== 'string') return undefined;
    return { module: new Uint8Array(answer.payload), toolchain: answer.body.toolchain };
  }

  async put(cacheKey: string, module: StoredModule): Promise<void> {
    await this.#peer.call('store.put', { key: cacheKey, toolchain: module.toolchain }, { payload: module.module, timeoutMs: 10_000 });
  }
}
