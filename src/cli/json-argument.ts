import { readFile } from 'node:fs/promises';

import { isPlainObject } from '../common/plain-object.js';
import { UsageError } from './exit-codes.js';

/** A JSON option value: inline JSON, or `@path` to read it from a file. */
export async function jsonArgument(value: string, option: string): Promise<unknown> {
  let text = value;
  if (value.startsWith('@')) {
    try {
      text = await readFile(value.slice(1), 'utf8');
    } catch (error) {
      throw new UsageError(`${option}: cannot read ${value.slice(1)} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`${option} is not JSON (${(error as Error).message}); pass JSON or @file.json`);
  }
}

/** A JSON option value that must be an object (a context, a schema). */
export async function jsonObjectArgument(value: string, option: string): Promise<Record<string, unknown>> {
  const parsed = await jsonArgument(value, option);
  if (!isPlainObject(parsed)) throw new UsageError(`${option} must be a JSON object`);
  return parsed;
}
