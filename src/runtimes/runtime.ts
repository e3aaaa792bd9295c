/**
 * The one interface every language runtime implements, whether it runs in this process
 * (V8 isolates, Python workers, WebAssembly) or behind a gRPC service on another machine.
 *
 * Scripts travel once: `prepare` checks/compiles a script and keeps it under its hash; `execute`
 * names the script by hash. A runtime that no longer holds a script (restart, eviction, another
 * replica) answers `not_prepared` and the caller prepares it again.
 *
 * A failure of user code is a result (`error`, `timeout`, `memory_limit`, `output_limit`), never an
 * exception; only faults of the runtime itself throw (ServiceError RUNTIME_UNAVAILABLE or
 * INTERNAL_ERROR).
 */

export type Language = 'nodejs' | 'python' | 'rust';

export const LANGUAGES: readonly Language[] = ['nodejs', 'python', 'rust'];

export interface PrepareRequest {
  /** sha256 of the script and its compile options; the key the runtime keeps the script under. */
  readonly scriptHash: string;
  readonly source: string;
  /** Language specific compile options (e.g. Rust `optimization_level`); validated by the runtime. */
  readonly compileOptions?: Readonly<Record<string, unknown>>;
  /** A previously built artifact (e.g. a cached WebAssembly module) the runtime may reuse. */
  readonly artifact?: Uint8Array;
}

/** Where in the user's script something happened; 1-based, in the user's own coordinates. */
export interface SourcePosition {
  readonly line?: number;
  readonly column?: number;
}

export interface CompileFailure extends SourcePosition {
  /** e.g. `SyntaxError`, or the compiler's name. */
  readonly kind: string;
  readonly message: string;
  /** Full diagnostics as a compiler prints them, where there are any. */
  readonly diagnostics?: string;
}

export type PrepareResult =
  | { readonly ok: true; readonly artifact?: Uint8Array; readonly compileMs: number }
  | { readonly ok: false; readonly error: CompileFailure };

/** The one value every script sees: `{ params, context, request_id }`. */
export interface ScriptEvent {
  readonly params: unknown;
  readonly context: Readonly<Record<string, unknown>>;
  readonly request_id: string;
}

export interface ExecuteRequest {
  readonly scriptHash: string;
  /**
   * Whose warm state this invocation uses: invocations with the same key may share module-level
   * state (as warm serverless instances do); different keys never do. The session id.
   */
  readonly instanceKey: string;
  readonly event: ScriptEvent;
  /**
   * The same event as JSON, where the caller has it already (a transport that received it so):
   * the runtime hands it on as it is instead of serialising `event` again.
   */
  readonly eventJson?: string;
  /** Wall-time limit for this invocation, already capped by the service. */
  readonly timeoutMs: number;
}

export interface ScriptError extends SourcePosition {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

export interface InvocationStats {
  readonly durationMs: number;
  readonly memoryUsageBytes?: number;
}

export type InvocationResult = (
  | { readonly status: 'ok'; readonly result: unknown }
  | { readonly status: 'error'; readonly error: ScriptError }
  | { readonly status: 'timeout'; readonly limitMs: number }
  | { readonly status: 'memory_limit'; readonly limitBytes: number; readonly message: string }
  | { readonly status: 'output_limit'; readonly limitBytes: number; readonly message: string }
  | { readonly status: 'not_prepared' }
) & { readonly logs: readonly string[]; readonly stats: InvocationStats };

export interface RuntimeHealth {
  /** `up`: serving; `degraded`: serving with trouble; `unavailable`: cannot serve (see reason). */
  readonly status: 'up' | 'degraded' | 'unavailable';
  readonly reason?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface Runtime {
  readonly language: Language;
  start(): Promise<void>;
  /** Graceful, then forced after the runtime's grace period. */
  stop(): Promise<void>;
  health(): RuntimeHealth;
  /**
   * The status of health() without its details, cheap enough for every call (health() may build
   * a report); runtimes that do not have it are asked health().
   */
  status?(): RuntimeHealth['status'];
  prepare(request: PrepareRequest): Promise<PrepareResult>;
  execute(request: ExecuteRequest): Promise<InvocationResult>;
  /** Forget the warm state of one instance (session ended). Never throws. */
  release(instanceKey: string): void;
}
