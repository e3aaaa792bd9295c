/**
 * lmctl: the Lambda Microservice from the command line, on the typed SDK
 * (@lambda-microservice/client). `bin/lmctl.mjs` runs this file; docs/cli.md describes the
 * commands and exit codes.
 */
import { CLIENT_VERSION } from '@lambda-microservice/client';
import { Command, CommanderError, Option } from 'commander';

import { DEFAULT_URL, type CliState } from './context.js';
import { EXIT_OK, EXIT_USAGE_OR_SERVICE } from './exit-codes.js';
import { Output, type CliIo } from './output.js';
import { reportError } from './report.js';
import { addFunctionCommands, addOperationsCommands, addSessionCommands } from './resource-commands.js';
import { addScriptCommands } from './script-commands.js';

/** The program with every command; actions leave their exit code in `state`. */
export function createProgram(state: CliState): Command {
  const { io } = state;
  const program = new Command('lmctl')
    .description('Run scripts on a Lambda Microservice, and look after its sessions and functions.')
    .version(CLIENT_VERSION)
    .addOption(new Option('--url <url>', 'the service').env('LAMBDA_URL').default(DEFAULT_URL))
    .addOption(new Option('--token <jwt>', 'a bearer token, when the service has auth on').env('LAMBDA_TOKEN'))
    .option('--json', 'machine-readable output: one JSON object on stdout')
    // Set before the commands are added: they inherit both.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(`lmctl: ${text.replace(/^error: /, '')}`),
    })
    .showSuggestionAfterError()
    .addHelpText(
      'after',
      `
Exit codes: 0 success; 1 the script failed (RUNTIME_ERROR, TIMEOUT, COMPILATION_ERROR, INVALID_PARAMS);
2 a usage error, any other service error, or the service unreachable.

Examples:
  lmctl run add.js --params '{"a":1,"b":2}'
  lmctl run handler.py --params @params.json --json
  id=$(lmctl init validate.rs) && lmctl exec "$id" --params '{"data":{}}'
  lmctl sessions ls --status active`,
    );
  addScriptCommands(program, state);
  addSessionCommands(program, state);
  addFunctionCommands(program, state);
  addOperationsCommands(program, state);
  return program;
}

/** Runs lmctl with `args` (without node and the script) and answers its exit code. */
export async function main(args: readonly string[], io: CliIo): Promise<number> {
  const state: CliState = { io, exitCode: EXIT_OK };
  const program = createProgram(state);
  try {
    await program.parseAsync([...args], { from: 'user' });
    return state.exitCode;
  } catch (error) {
    // Help and --version exit 0; every usage error (unknown command or option, a missing or bad argument) 2.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE_OR_SERVICE;
    // Anything else escaped a command: still one line and exit 2, never a crash with exit 1 (a script failure).
    return reportError(new Output(io, args.includes('--json')), error);
  }
}

// A reader that stops early (`lmctl functions ls | head -3`) is not a failure of lmctl.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(EXIT_OK);
  });
}
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
