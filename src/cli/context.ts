import { CLIENT_VERSION, createLambdaClient, type LambdaClient } from '@lambda-microservice/client';
import { InvalidArgumentError, type Command } from 'commander';

import { EXIT_OK, UsageError } from './exit-codes.js';
import { Output, type CliIo } from './output.js';
import { reportError, type SourceText } from './report.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** The global options, as every command sees them. */
export interface GlobalOptions {
  readonly url: string;
  readonly token?: string;
  readonly json?: boolean;
}

/** What a command's action works with: the client for --url/--token and the output for --json. */
export interface CommandContext {
  readonly client: LambdaClient;
  readonly out: Output;
  /** Names the script later errors may point into (a compile error's line). */
  pointAt(script: SourceText): void;
}

/** Where commands leave their exit code for lmctl's main. */
export interface CliState {
  readonly io: CliIo;
  exitCode: number;
}

function clientFor(globals: GlobalOptions): LambdaClient {
  let url: URL;
  try {
    url = new URL(globals.url);
  } catch {
    throw new UsageError(`--url ${globals.url} is not a URL (e.g. ${DEFAULT_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url ${globals.url} must be http:// or https://`);
  return createLambdaClient({ baseUrl: url.href, token: globals.token, userAgent: `lmctl/${CLIENT_VERSION}` });
}

/**
 * Runs one command's work with its context: its exit code is what the work answers (0 when it
 * answers nothing); a failure is reported and its kind becomes the exit code.
 */
export async function runCommand(command: Command, state: CliState, work: (ctx: CommandContext) => Promise<number | void>): Promise<void> {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const out = new Output(state.io, globals.json === true);
  let script: SourceText | undefined;
  try {
    state.exitCode = (await work({ client: clientFor(globals), out, pointAt: (s) => (script = s) })) ?? EXIT_OK;
  } catch (error) {
    state.exitCode = reportError(out, error, script);
  }
}

/** `--limit 20`, `--page 2`: a whole number of at least 1. */
export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('not a whole number of at least 1');
  return n;
}
