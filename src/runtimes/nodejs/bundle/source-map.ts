/**
 * A bundled script's errors in the script's own coordinates: the guest reports positions in the
 * bundle esbuild made (`script.js:L:C` frames); esbuild's source map (kept in the service beside
 * the bundle, never sent to the runtime) says where each came from: the user's script (line and
 * column as the user wrote them) or a package's file (`node_modules/lodash/lodash.js:L:C`).
 */
import { originalPositionFor, TraceMap, type SourceMapInput } from '@jridgewell/trace-mapping';

import type { CompileFailure, ScriptError, SourcePosition } from '../../runtime.js';

/** What mapping needs of a bundle: its map, the name its source had, and the lines esbuild's body wrapper added. */
export interface BundleMap {
  readonly map: string;
  readonly file: string;
  readonly lineShift: number;
}

/** `script.js:12:5` in a stack: a frame of the bundle (the runtime's file name). */
const BUNDLE_FRAME = /\bscript\.js:(\d+):(\d+)/g;

export class BundleMapper {
  readonly #bundle: BundleMap;
  #trace: TraceMap | undefined;

  constructor(bundle: BundleMap) {
    this.#bundle = bundle;
  }

  /** The bundle's 1-based line and column → the original file, line and column (1-based), if the map knows them. */
  position(line: number, column: number): { file: string; line: number; column: number; ours: boolean } | undefined {
    this.#trace ??= new TraceMap(JSON.parse(this.#bundle.map) as SourceMapInput);
    const found = originalPositionFor(this.#trace, { line, column: Math.max(0, column - 1) });
    if (found.source === null || found.line === null || found.column === null) return undefined;
    const ours = found.source === this.#bundle.file || found.source.endsWith(`/${this.#bundle.file}`);
    if (!ours) return { file: found.source.replace(/^(\.\.\/)+/, ''), line: found.line, column: found.column + 1, ours };
    return { file: this.#bundle.file, line: Math.max(1, found.line - this.#bundle.lineShift), column: found.column + 1, ours };
  }

  /** A frame's text (`script.js:L:C` of the bundle) as the original's. */
  #frames(stack: string): string {
    return stack.replace(BUNDLE_FRAME, (text, line: string, column: string) => {
      const found = this.position(Number(line), Number(column));
      return found ? `${found.file}:${found.line}:${found.column}` : text;
    });
  }

  /** A script error with its line and column (those of its first frame in the user's script) and stack mapped. */
  scriptError(error: ScriptError): ScriptError {
    return this.#mapped(error, 'stack');
  }

  /** A failure of the module's top-level code at prepare, mapped likewise (its stack is in `diagnostics`). */
  compileFailure(failure: CompileFailure): CompileFailure {
    return this.#mapped(failure, 'diagnostics');
  }

  /** `value` with the frames of its `textKey` and its line and column in the original's coordinates. */
  #mapped<T extends SourcePosition>(value: T, textKey: keyof T & ('stack' | 'diagnostics')): T {
    const { line, column, ...rest } = value;
    const text = value[textKey] as string | undefined;
    const mapped: Record<string, unknown> = { ...rest };
    if (text !== undefined) mapped[textKey] = this.#frames(text);
    const at = this.#userPosition(text, line, column);
    if (at) {
      mapped.line = at.line;
      mapped.column = at.column;
    }
    return mapped as T;
  }

  /** The first frame of the stack that is in the user's script; else where the guest said, if that is the script's. */
  #userPosition(stack: string | undefined, line: number | undefined, column: number | undefined): { line: number; column: number } | undefined {
    for (const match of (stack ?? '').matchAll(BUNDLE_FRAME)) {
      const found = this.position(Number(match[1]), Number(match[2]));
      if (found?.ours) return found;
    }
    if (line === undefined || column === undefined) return undefined;
    const found = this.position(line, column);
    return found?.ours ? found : undefined;
  }
}
