/**
 * What the Rust (WebAssembly) runtime accepts as a script besides Rust source, and the checks every
 * module passes before it runs, whoever built it:
 * - a ready module as WAT text, or as base64 of a `.wasm` binary;
 * - imports only WASI preview 1 functions (and, for modules built from Rust here, the runtime's
 *   own `lambda` result/error functions); no imported memory, table or global;
 * - exports `memory` and a `_start` function, has no start section;
 * - one memory, not shared, not 64-bit; its maximum is set to the runtime's memory limit (the
 *   binary's memory section is rewritten), so `memory.grow` beyond it fails inside the module;
 * - tables of at most MAX_TABLE_ELEMENTS entries, their maximum capped the same way: a table is
 *   allocated on the worker's V8 heap when the module is instantiated (a `(table 10000000 funcref)`
 *   took its worker, and with it the process, past the heap limit).
 */
import type { CompileFailure } from '../runtime.js';

export type SourceFormat = 'rust' | 'wat' | 'wasm';

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];
const SECTION_TABLE = 4;
const SECTION_MEMORY = 5;
const SECTION_START = 8;
const PAGE_BYTES = 65536;
/** Entries a module's table may have (initially and by `table.grow`); Rust modules use a few hundred. */
export const MAX_TABLE_ELEMENTS = 100_000;

/** The `lambda` imports a module compiled from Rust by this runtime may use. */
const LAMBDA_IMPORTS = new Set(['result', 'error']);

/** Strips leading whitespace and WAT comments (`;; line`, `(; block ;)`). */
function skipWatTrivia(source: string): string {
  let rest = source;
  for (;;) {
    const trimmed = rest.trimStart();
    if (trimmed.startsWith(';;')) {
      const end = trimmed.indexOf('\n');
      rest = end === -1 ? '' : trimmed.slice(end + 1);
    } else if (trimmed.startsWith('(;')) {
      const end = trimmed.indexOf(';)');
      rest = end === -1 ? '' : trimmed.slice(end + 2);
    } else {
      return trimmed;
    }
  }
}

/**
 * Tells the three forms apart: WAT starts with `(module`; base64 of a module starts with `AGFzbQ`
 * (the magic `\0asm`) and holds base64 characters only; anything else is Rust.
 */
export function detectSourceFormat(source: string): SourceFormat {
  if (/^\(module[\s)$]/.test(skipWatTrivia(source))) return 'wat';
  const compact = source.replace(/\s+/g, '');
  if (compact.startsWith('AGFzbQ') && /^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return 'wasm';
  return 'rust';
}

export function decodeBase64Module(source: string): Uint8Array | CompileFailure {
  const bytes = Buffer.from(source.replace(/\s+/g, ''), 'base64');
  if (!WASM_MAGIC.every((byte, i) => bytes[i] === byte)) return { kind: 'InvalidModule', message: 'the base64 text does not decode to a WebAssembly module' };
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

interface Wabt {
  parseWat(filename: string, buffer: string): {
    resolveNames(): void;
    validate(): void;
    toBinary(options: Record<string, boolean>): { buffer: Uint8Array };
    destroy(): void;
  };
}

let wabtLoading: Promise<Wabt> | undefined;

async function loadWabt(): Promise<Wabt> {
  wabtLoading ??= import('wabt').then((module) => module.default());
  return wabtLoading;
}

/** wabt's own reports of a bad text ("parseWat failed:", "validate failed:"); anything else is a fault inside wabt. */
const WABT_REPORT = /^(parseWat|resolveNames|validate|toBinary) failed:/;

/**
 * WAT text to a binary module (wabt, in the Rust runtime process; the text is bounded by
 * MAX_SCRIPT_SIZE). wabt is itself WebAssembly: a text nested deep enough overflows its stack into
 * its own memory, and every later parse in that instance failed ("memory access out of bounds").
 * An instance that failed other than by reporting a bad text is dropped; the next parse gets a new one.
 */
export async function watToWasm(source: string): Promise<Uint8Array | CompileFailure> {
  const wabt = await loadWabt();
  let parsed: ReturnType<Wabt['parseWat']> | undefined;
  try {
    parsed = wabt.parseWat('script.wat', source);
    parsed.resolveNames();
    parsed.validate();
    return parsed.toBinary({ log: false, write_debug_names: false }).buffer.slice();
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    if (!WABT_REPORT.test(text)) {
      wabtLoading = undefined;
      parsed = undefined;
      return { kind: 'WatSyntaxError', message: `the WAT parser failed on this text (${text}); is it nested too deeply?`, diagnostics: text };
    }
    // wabt: "parseWat failed:\nscript.wat:3:5: error: unexpected token ..."
    const match = /script\.wat:(\d+):(\d+): error: ([^\n]*)/.exec(text);
    return {
      kind: 'WatSyntaxError',
      message: match?.[3] ?? (text.split('\n').find((line) => line.trim() !== '' && !/failed:$/.test(line)) ?? text),
      ...(match ? { line: Number(match[1]), column: Number(match[2]) } : {}),
      diagnostics: text.trim(),
    };
  } finally {
    parsed?.destroy();
  }
}

// ---- binary surgery --------------------------------------------------------------------------------

function readLeb(bytes: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  let next = at;
  for (;;) {
    const byte = bytes[next];
    if (byte === undefined || shift > 28) throw new Error('malformed LEB128 number');
    next++;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, next };
    shift += 7;
  }
}

function writeLeb(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    out.push(byte);
  } while (rest > 0);
  return out;
}

/** Reads a limits structure (flags, min, optional max) at `at`. */
function readLimits(wasm: Uint8Array, at: number): { flags: number; min: number; max: number | undefined; next: number } {
  const flags = wasm[at] ?? 0;
  const min = readLeb(wasm, at + 1);
  if ((flags & 0x01) === 0) return { flags, min: min.value, max: undefined, next: min.next };
  const max = readLeb(wasm, min.next);
  return { flags, min: min.value, max: max.value, next: max.next };
}

/** Rewrites the table section so that every table's maximum is at most MAX_TABLE_ELEMENTS. */
function boundTables(wasm: Uint8Array, start: number, end: number): number[] | string {
  const count = readLeb(wasm, start);
  const body: number[] = [...writeLeb(count.value)];
  let p = count.next;
  for (let i = 0; i < count.value; i++) {
    const refType = wasm[p] ?? 0;
    if (refType !== 0x70 && refType !== 0x6f) return 'malformed table section';
    const limits = readLimits(wasm, p + 1);
    if (limits.flags & ~0x01) return 'shared or 64-bit tables are not supported';
    if (limits.min > MAX_TABLE_ELEMENTS) return `the module's table has ${limits.min} entries, above the limit of ${MAX_TABLE_ELEMENTS}`;
    body.push(refType, 0x01, ...writeLeb(limits.min), ...writeLeb(Math.min(limits.max ?? MAX_TABLE_ELEMENTS, MAX_TABLE_ELEMENTS)));
    p = limits.next;
  }
  if (p !== end) return 'malformed table section';
  return body;
}

/**
 * Sets the maximum of the module's memory to `maxPages` (lower if the module asks for less), and of
 * its tables to MAX_TABLE_ELEMENTS. Refuses modules this runtime cannot bound: a shared or 64-bit
 * memory, more than one memory, an initial memory or table above the limit, a start section.
 */
export function boundModule(wasm: Uint8Array, maxPages: number): Uint8Array | CompileFailure {
  const fail = (message: string): CompileFailure => ({ kind: 'InvalidModule', message });
  if (!WASM_MAGIC.every((byte, i) => wasm[i] === byte)) return fail('not a WebAssembly module');
  const parts: Uint8Array[] = [wasm.subarray(0, 8)];
  let at = 8;
  let memories = 0;
  try {
    while (at < wasm.length) {
      const id = wasm[at] ?? 0;
      const size = readLeb(wasm, at + 1);
      const end = size.next + size.value;
      if (end > wasm.length) return fail('truncated section');
      if (id === SECTION_START) return fail('the module has a start section; export a `_start` function instead');
      if (id === SECTION_TABLE) {
        const body = boundTables(wasm, size.next, end);
        if (typeof body === 'string') return fail(body);
        parts.push(Uint8Array.of(SECTION_TABLE, ...writeLeb(body.length), ...body));
        at = end;
        continue;
      }
      if (id !== SECTION_MEMORY) {
        parts.push(wasm.subarray(at, end));
        at = end;
        continue;
      }
      const count = readLeb(wasm, size.next);
      memories += count.value;
      if (count.value > 1) return fail('the module defines more than one memory');
      const body: number[] = [...writeLeb(count.value)];
      let p = count.next;
      for (let i = 0; i < count.value; i++) {
        const limits = readLimits(wasm, p);
        if (limits.flags & ~0x01) return fail('shared or 64-bit memories are not supported');
        p = limits.next;
        if (limits.min > maxPages) {
          return fail(`the module's initial memory (${limits.min * 64} KiB) is above the memory limit (${maxPages * 64} KiB)`);
        }
        body.push(0x01, ...writeLeb(limits.min), ...writeLeb(Math.min(limits.max ?? maxPages, maxPages)));
      }
      if (p !== end) return fail('malformed memory section');
      parts.push(Uint8Array.of(SECTION_MEMORY, ...writeLeb(body.length), ...body));
      at = end;
    }
  } catch (error) {
    return fail(error instanceof Error ? error.message : 'malformed module');
  }
  if (memories === 0) return fail('the module defines no memory; it must export one as `memory`');
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Imports and exports a module needs to run here; a message when it does not fit. */
export function checkInterface(module: WebAssembly.Module): string | undefined {
  for (const entry of WebAssembly.Module.imports(module)) {
    if (entry.module === 'wasi_snapshot_preview1' && entry.kind === 'function') continue;
    if (entry.module === 'lambda' && entry.kind === 'function' && LAMBDA_IMPORTS.has(entry.name)) continue;
    return `the module imports ${entry.kind} "${entry.module}"."${entry.name}"; only WASI preview 1 functions (wasi_snapshot_preview1) are provided`;
  }
  const exports = WebAssembly.Module.exports(module);
  if (!exports.some((e) => e.name === 'memory' && e.kind === 'memory')) return 'the module must export its memory as "memory"';
  if (!exports.some((e) => e.name === '_start' && e.kind === 'function')) return 'the module must export a "_start" function (a WASI command)';
  return undefined;
}

export const WASM_PAGE_BYTES = PAGE_BYTES;
