/** `lmctl run`, `lmctl init` and `lmctl exec`: a script file in a session, and executes of it. */
import { performance } from 'node:perf_hooks';

import type { InitializeBody } from '@lambda-microservice/client';
import type { Command } from 'commander';

import { runCommand, type CliState, type CommandContext } from './context.js';
import { jsonArgument, jsonObjectArgument } from './json-argument.js';
import { printExecution } from './report.js';
import { readScriptFile } from './script-file.js';

interface ScriptOptions {
  readonly lang?: string;
  readonly title?: string;
  readonly context?: string;
  readonly debug?: boolean;
}

interface ExecOptions {
  readonly params?: string;
  /** false with --no-cache. */
  readonly cache: boolean;
}

/** Reads the file and initializes a session with it (a compile error is thrown here, pointing into the file). */
async function initialize(ctx: CommandContext, file: string, options: ScriptOptions): Promise<{ requestId: string; languageTitle: string; ms: number }> {
  const script = await readScriptFile(file, options);
  ctx.pointAt({ path: script.path, text: script.source });
  const body: InitializeBody = {
    script_content: script.content,
    ...(options.context !== undefined ? { context: await jsonObjectArgument(options.context, '--context') } : {}),
    ...(options.debug ? { compile_options: { optimization_level: 'debug' } } : {}),
  };
  const compiles = script.language === 'rust' && !/\.(wat|wasm)$/i.test(script.path);
  const started = performance.now();
  const session = await ctx.out.spin(compiles ? `compiling ${script.path} (rustc → wasm32-wasi)` : `initializing ${script.path}`, () => ctx.client.initialize(script.languageTitle, body));
  return { requestId: session.request_id, languageTitle: script.languageTitle, ms: performance.now() - started };
}

const paramsOf = async (options: ExecOptions): Promise<unknown> => (options.params !== undefined ? jsonArgument(options.params, '--params') : {});

async function execute(ctx: CommandContext, requestId: string, params: unknown, options: ExecOptions, initializeMs?: number): Promise<void> {
  const started = performance.now();
  const reply = await ctx.out.spin('executing', () => ctx.client.execute(requestId, params, { noCache: !options.cache }));
  printExecution(ctx.out, reply, { ...(initializeMs !== undefined ? { initialize_ms: initializeMs } : {}), execute_ms: performance.now() - started });
}

function withScriptOptions(command: Command): Command {
  return command
    .argument('<file>', 'the script: .js .mjs .ts .py .rs .wat .wasm')
    .option('-l, --lang <language>', 'nodejs, typescript, python or rust (default: from the extension)')
    .option('-t, --title <title>', 'the title in the Language-Title <language>-<title> (default: the file name)')
    .option('--context <json>', 'the session context (timeout_ms, retain_session, ...): JSON or @file.json')
    .option('--debug', 'Rust: compile at opt-level debug (faster to compile)');
}

function withExecOptions(command: Command): Command {
  return command.option('-p, --params <json>', 'params: JSON or @file.json (default {})').option('--no-cache', 'run the script even when the result cache holds an answer');
}

export function addScriptCommands(program: Command, state: CliState): void {
  withExecOptions(withScriptOptions(program.command('run').description('initialize a script file and execute it once: the result on stdout, logs and timing on stderr'))).action(
    (file: string, options: ScriptOptions & ExecOptions, command: Command) =>
      runCommand(command, state, async (ctx) => {
        // Params first: a bad --params must not leave a session behind.
        const params = await paramsOf(options);
        const session = await initialize(ctx, file, options);
        await execute(ctx, session.requestId, params, options, session.ms);
      }),
  );

  withScriptOptions(program.command('init').description('initialize a session with a script file and print its request_id')).action((file: string, options: ScriptOptions, command: Command) =>
    runCommand(command, state, async (ctx) => {
      const session = await initialize(ctx, file, options);
      ctx.out.answer({ request_id: session.requestId, language_title: session.languageTitle, initialize_ms: Math.round(session.ms * 10) / 10 }, session.requestId);
    }),
  );

  withExecOptions(program.command('exec').description('execute a session again').argument('<request_id>', 'the session (what init printed)')).action(
    (requestId: string, options: ExecOptions, command: Command) => runCommand(command, state, async (ctx) => execute(ctx, requestId, await paramsOf(options), options)),
  );
}
