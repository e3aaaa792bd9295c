/**
 * What the WASI worker (wasi-worker.js) uses of the WebAssembly JS API beyond the host's own
 * declarations (../webassembly.d.ts); only for type-checking the guest (tsconfig.guest.json).
 */
declare namespace WebAssembly {
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, any>;
  }
  class RuntimeError extends Error {}
}
