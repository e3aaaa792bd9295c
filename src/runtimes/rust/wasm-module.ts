/**
 * Ready modules (WAT text, base64 of a `.wasm`), and the checks every module passes before it runs,
 * whoever built it: it imports only WASI preview 1 functions (and the runtime's own `lambda`
 * result/error ones); exports `memory` and `_start`; has no start section; has one memory, not shared
 * nor 64-bit, whose maximum is rewritten to the memory limit (so `memory.grow` fails beyond it); and
 * tables capped the same way at MAX_TABLE_ELEMENTS, as V8 allocates them on the worker's heap (a
 * `(table 10000000 funcref)` took its worker, and with it the process, past the heap limit).
 */
import type initWabt from 'wabt';

import { errorMessage } from '../kit/invocation.js';
import type { CompileFailure } from '../runtime.js';

export type SourceFormat = 'rust' | 'wat' | 'wasm';

const WASM_PAGE_BYTES = 65536;
/** Entries a module's table may have (initially and by `table.grow`); Rust modules use a few hundred. */
const MAX_TABLE_ELEMENTS = 100_000;
const SECTION_TABLE = 4;
const SECTION_MEMORY = 5;
const SECTION_START = 8;
/** The `lambda` imports a module compiled from Rust by this runtime may use. */
const LAMBDA_IMPORTS = new Set(['result', 'error']);

const isWasm = (bytes: Uint8Array): boolean => bytes[0] === 0x00 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
const invalid = (message: string): CompileFailure => ({ kind: 'InvalidModule', message });

/** Whitespace and WAT comments (`;; line`, `(; block ;)`), one at a time. */
const WAT_TRIVIA = /\s+|;;[^\n]*|\(;[\s\S]*?;\)/y;
const WAT_MODULE = /\(module[\s)$]/y;

/**
 * Tells the three forms apart: WAT starts with `(module` (after comments); base64 of a module starts
 * with `AGFzbQ` (the magic `\0asm`) and holds base64 characters only; anything else is Rust.
 */
export function detectSourceFormat(source: string): SourceFormat {
  WAT_TRIVIA.lastIndex = 0;
  let at = 0;
  while (WAT_TRIVIA.test(source)) at = WAT_TRIVIA.lastIndex;
  WAT_MODULE.lastIndex = at;
  if (WAT_MODULE.test(source)) return 'wat';
  const compact = source.replace(/\s+/g, '');
  if (compact.startsWith('AGFzbQ') && /^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return 'wasm';
  return 'rust';
}

export function decodeBase64Module(source: string): Uint8Array | CompileFailure {
  const bytes = Buffer.from(source.replace(/\s+/g, ''), 'base64');
  return isWasm(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : invalid('the base64 text does not decode to a WebAssembly module');
}

let wabtLoading: ReturnType<typeof initWabt> | undefined;
/** wabt's own reports of a bad text ("parseWat failed:", "validate failed:"); anything else is a fault inside wabt. */
const WABT_REPORT = /^(parseWat|resolveNames|validate|toBinary) failed:/;

/**
 * WAT text to a binary module (wabt, in this process; the text is bounded by MAX_SCRIPT_SIZE). wabt
 * is itself WebAssembly: a text nested deep enough overflows its stack into its own memory, and
 * every later parse in that instance failed ("memory access out of bounds"). So an instance that
 * failed other than by reporting a bad text is dropped, and the next parse gets a new one.
 */
export async function watToWasm(source: string): Promise<Uint8Array | CompileFailure> {
  wabtLoading ??= import('wabt').then((module) => module.default());
  const wabt = await wabtLoading;
  let parsed: ReturnType<typeof wabt.parseWat> | undefined;
  try {
    parsed = wabt.parseWat('script.wat', source);
    parsed.resolveNames();
    parsed.validate();
    return parsed.toBinary({ log: false, write_debug_names: false }).buffer.slice();
  } catch (error) {
    const text = errorMessage(error);
    if (!WABT_REPORT.test(text)) {
      wabtLoading = undefined;
      parsed = undefined;
      return { kind: 'WatSyntaxError', message: `the WAT parser failed on this text (${text}); is it nested too deeply?`, diagnostics: text };
    }
    // wabt: "parseWat failed:\nscript.wat:3:5: error: unexpected token ..."
    const match = /script\.wat:(\d+):(\d+): error: ([^\n]*)/.exec(text);
    return {
      kind: 'WatSyntaxError',
      message: match?.[3] ?? text.split('\n').find((line) => line.trim() !== '' && !/failed:$/.test(line)) ?? text,
      ...(match ? { line: Number(match[1]), column: Number(match[2]) } : {}),
      diagnostics: text.trim(),
    };
  } finally {
    parsed?.destroy();
  }
}

function readLeb(bytes: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  for (let shift = 0, next = at; shift <= 28; shift += 7) {
    const byte = bytes[next++];
    if (byte === undefined) break;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, next };
  }
  throw new Error('malformed LEB128 number');
}

function writeLeb(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  do {
    out.push((rest % 128) | (rest >= 128 ? 0x80 : 0));
    rest = Math.floor(rest / 128);
  } while (rest > 0);
  return out;
}

/** The body of a table or memory section with every entry's maximum at most `limit`, or what is wrong with it. */
function capSection(wasm: Uint8Array, start: number, end: number, kind: 'table' | 'memory', limit: number): number[] | string {
  const count = readLeb(wasm, start);
  if (kind === 'memory' && count.value > 1) return 'the module defines more than one memory';
  const body = writeLeb(count.value);
  let p = count.next;
  for (let i = 0; i < count.value; i++) {
    const refType = kind === 'table' ? (wasm[p++] ?? 0) : undefined;
    if (refType !== undefined && refType !== 0x70 && refType !== 0x6f) return 'malformed table section';
    const flags = wasm[p] ?? 0;
    const min = readLeb(wasm, p + 1);
    const max = flags & 0x01 ? readLeb(wasm, min.next) : undefined;
    if (flags & ~0x01) return `shared or 64-bit ${kind === 'table' ? 'tables' : 'memories'} are not supported`;
    if (min.value > limit) {
      return kind === 'table'
        ? `the module's table has ${min.value} entries, above the limit of ${limit}`
        : `the module's initial memory (${min.value * 64} KiB) is above the memory limit (${limit * 64} KiB)`;
    }
    body.push(...(refType === undefined ? [] : [refType]), 0x01, ...writeLeb(min.value), ...writeLeb(Math.min(max?.value ?? limit, limit)));
    p = max?.next ?? min.next;
  }
  return p === end ? body : `malformed ${kind} section`;
}

/**
 * The module with its memory's maximum at most `maxPages` and its tables' at most
 * MAX_TABLE_ELEMENTS; or why it cannot run here: a shared or 64-bit memory or table, more than one
 * memory, an initial size above the limit, a start section.
 */
function boundModule(wasm: Uint8Array, maxPages: number): Uint8Array | CompileFailure {
  if (!isWasm(wasm)) return invalid('not a WebAssembly module');
  const parts: Uint8Array[] = [wasm.subarray(0, 8)];
  let memories = 0;
  try {
    for (let at = 8; at < wasm.length; ) {
      const id = wasm[at] ?? 0;
      const size = readLeb(wasm, at + 1);
      const end = size.next + size.value;
      if (end > wasm.length) return invalid('truncated section');
      if (id === SECTION_START) return invalid('the module has a start section; export a `_start` function instead');
      if (id === SECTION_TABLE || id === SECTION_MEMORY) {
        const body = id === SECTION_TABLE ? capSection(wasm, size.next, end, 'table', MAX_TABLE_ELEMENTS) : capSection(wasm, size.next, end, 'memory', maxPages);
        if (typeof body === 'string') return invalid(body);
        if (id === SECTION_MEMORY) memories += readLeb(wasm, size.next).value;
        parts.push(Uint8Array.of(id, ...writeLeb(body.length), ...body));
      } else {
        parts.push(wasm.subarray(at, end));
      }
      at = end;
    }
  } catch (error) {
    return invalid(error instanceof Error ? error.message : 'malformed module');
  }
  if (memories === 0) return invalid('the module defines no memory; it must export one as `memory`');
  return Buffer.concat(parts);
}

/** Bounds the module (memory at most `memoryLimitBytes`), compiles it for V8 and checks that its imports and exports fit the runner. */
export async function loadModule(wasm: Uint8Array, memoryLimitBytes: number): Promise<WebAssembly.Module | CompileFailure> {
  const bounded = boundModule(wasm, Math.floor(memoryLimitBytes / WASM_PAGE_BYTES));
  if (!(bounded instanceof Uint8Array)) return bounded;
  const module = await WebAssembly.compile(bounded).catch((error: unknown) => invalid(errorMessage(error)));
  if ('kind' in module) return module;
  for (const entry of WebAssembly.Module.imports(module)) {
    if (entry.module === 'wasi_snapshot_preview1' && entry.kind === 'function') continue;
    if (entry.module === 'lambda' && entry.kind === 'function' && LAMBDA_IMPORTS.has(entry.name)) continue;
    return invalid(`the module imports ${entry.kind} "${entry.module}"."${entry.name}"; only WASI preview 1 functions (wasi_snapshot_preview1) are provided`);
  }
  const exports = WebAssembly.Module.exports(module);
  if (!exports.some((e) => e.name === 'memory' && e.kind === 'memory')) return invalid('the module must export its memory as "memory"');
  if (!exports.some((e) => e.name === '_start' && e.kind === 'function')) return invalid('the module must export a "_start" function (a WASI command)');
  return module;
}
