/** `lmctl sessions`, `lmctl executions`, `lmctl functions`, `lmctl health`, `lmctl runtimes`. */
import type { FunctionRegistration, FunctionUpdate, SessionListQuery, StatsWindow } from '@lambda-microservice/client';
import { Option, type Command } from 'commander';

import { positiveInteger, runCommand, type CliState, type CommandContext } from './context.js';
import { EXIT_USAGE_OR_SERVICE, UsageError } from './exit-codes.js';
import { jsonObjectArgument } from './json-argument.js';
import { readScriptFile } from './script-file.js';

const DURATION = /^\+?(\d+)(s|m|h|d)$/;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `2h`, `30m`, `+90s` from now, or an RFC 3339 time as given. */
export function expiryOf(when: string, now = Date.now()): string {
  const duration = DURATION.exec(when);
  if (duration) return new Date(now + Number(duration[1]) * (UNIT_MS[duration[2] ?? 's'] ?? 1000)).toISOString();
  if (!Number.isNaN(Date.parse(when))) return when;
  throw new UsageError(`${when} is neither a duration (30m, 2h, 1d) nor an RFC 3339 time`);
}

/** The next page's cursor, said on stderr so stdout stays the page. */
function nextPage(ctx: CommandContext, cursor: string | null): void {
  if (cursor !== null) ctx.out.note(ctx.out.err.dim(`more: --cursor ${cursor}`));
}

const show = (value: unknown): string => (value === null || value === undefined ? '-' : typeof value === 'string' ? value : JSON.stringify(value));

export function addSessionCommands(program: Command, state: CliState): void {
  const sessions = program.command('sessions').description('the caller\'s sessions');

  sessions
    .command('ls')
    .description('list sessions, newest first')
    .addOption(new Option('--status <status>', 'only these').choices(['active', 'expired', 'completed', 'error']))
    .addOption(new Option('--language <language>', 'only this language').choices(['nodejs', 'python', 'rust']))
    .option('--title <language_title>', 'only this Language-Title')
    .option('--limit <n>', 'sessions per page (at most 100)', positiveInteger)
    .option('--cursor <cursor>', 'the page after this one (as the last page said)')
    .action((options: { status?: SessionListQuery['status']; language?: SessionListQuery['language']; title?: string; limit?: number; cursor?: string }, command: Command) =>
      runCommand(command, state, async (ctx) => {
        const page = await ctx.client.sessions.list({ status: options.status, language: options.language, language_title: options.title, limit: options.limit, cursor: options.cursor });
        ctx.out.answer(page, () => {
          ctx.out.table(
            ['REQUEST_ID', 'LANGUAGE_TITLE', 'STATUS', 'EXECUTIONS', 'CREATED', 'EXPIRES'],
            page.sessions.map((s) => [s.request_id, s.language_title, s.status, String(s.execution_count), s.created_at, s.expires_at]),
          );
          nextPage(ctx, page.next_cursor);
        });
      }),
    );

  sessions
    .command('get')
    .description('one session: status, counters, expiry, context')
    .argument('<request_id>')
    .action((requestId: string, _options: unknown, command: Command) => runCommand(command, state, async (ctx) => ctx.out.printJson(await ctx.client.sessions.get(requestId))));

  sessions
    .command('rm')
    .description('end a session (later executes answer 404)')
    .argument('<request_id>')
    .action((requestId: string, _options: unknown, command: Command) =>
      runCommand(command, state, async (ctx) => {
        const deleted = await ctx.client.sessions.delete(requestId);
        ctx.out.answer(deleted, `deleted ${deleted.request_id}`);
      }),
    );

  sessions
    .command('extend')
    .description('move a session\'s end (at most the service\'s maximum lifetime from now)')
    .argument('<request_id>')
    .argument('<when>', 'a duration from now (30m, 2h, 1d) or an RFC 3339 time')
    .action((requestId: string, when: string, _options: unknown, command: Command) =>
      runCommand(command, state, async (ctx) => {
        const session = await ctx.client.sessions.extend(requestId, expiryOf(when));
        ctx.out.answer(session, `${session.request_id} expires at ${session.expires_at}`);
      }),
    );

  program
    .command('executions')
    .description('a session\'s executes as the request log holds them, newest first')
    .argument('<request_id>')
    .option('--limit <n>', 'executes per page (at most 100)', positiveInteger)
    .option('--cursor <cursor>', 'the page after this one')
    .action((requestId: string, options: { limit?: number; cursor?: string }, command: Command) =>
      runCommand(command, state, async (ctx) => {
        const page = await ctx.client.executions(requestId, { limit: options.limit, cursor: options.cursor });
        ctx.out.answer(page, () => {
          ctx.out.table(
            ['TIME', 'STATUS', 'DURATION_MS', 'CACHED', 'PARAMS', 'ERROR'],
            page.executions.map((e) => [e.timestamp, String(e.status_code), e.duration_ms.toFixed(1), e.cached ? 'yes' : 'no', show(e.params), e.error_code ? `${e.error_code}: ${e.error_message ?? ''}` : '']),
          );
          nextPage(ctx, page.next_cursor);
        });
      }),
    );
}

interface FunctionFields {
  readonly description?: string;
  readonly schema?: string;
  readonly tag?: string[];
  /** false with --no-cache. */
  readonly cache?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function withFunctionFields(command: Command): Command {
  return command
    .option('--description <text>', 'what it does')
    .option('--schema <json>', '{ "params": <JSON Schema>, "result": ... }: JSON or @file.json')
    .option('--tag <tag>', 'a tag (repeat for more)', collect)
    .option('--no-cache', 'its results are never cached (it is not deterministic)');
}

async function fields(options: FunctionFields): Promise<Omit<FunctionUpdate, 'script_content'>> {
  return {
    ...(options.description !== undefined ? { description: options.description } : {}),
    ...(options.schema !== undefined ? { schema: await jsonObjectArgument(options.schema, '--schema') } : {}),
    ...(options.tag !== undefined ? { tags: options.tag } : {}),
    ...(options.cache === false ? { cache: false } : {}),
  };
}

export function addFunctionCommands(program: Command, state: CliState): void {
  const functions = program.command('functions').description('the functions catalog');

  functions
    .command('ls')
    .description('list functions')
    .addOption(new Option('--language <language>', 'only this language').choices(['nodejs', 'python', 'rust']))
    .addOption(new Option('--type <type>', 'only these').choices(['predefined', 'dynamic']))
    .option('--user <user_id>', 'only the ones this user registered')
    .option('--page <n>', 'page, from 1', positiveInteger)
    .option('--per-page <n>', 'functions per page (at most 100)', positiveInteger)
    .action((options: { language?: string; type?: string; user?: string; page?: number; perPage?: number }, command: Command) =>
      runCommand(command, state, async (ctx) => {
        const list = await ctx.client.functions.list({
          language: options.language,
          type: options.type,
          user_id: options.user,
          page: options.page?.toString(),
          per_page: options.perPage?.toString(),
        });
        ctx.out.answer(list, () => {
          ctx.out.table(['LANGUAGE_TITLE', 'TYPE', 'VERSION', 'DESCRIPTION'], list.functions.map((f) => [f.language_title, f.type, f.version, f.description ?? '']));
          const shown = (list.page - 1) * list.per_page + list.functions.length;
          if (shown < list.total) ctx.out.note(ctx.out.err.dim(`${shown} of ${list.total}: --page ${list.page + 1}`));
        });
      }),
    );

  functions
    .command('get')
    .description('one function: schema, examples, script (dynamic ones)')
    .argument('<language_title>')
    .action((languageTitle: string, _options: unknown, command: Command) => runCommand(command, state, async (ctx) => ctx.out.printJson(await ctx.client.functions.get(languageTitle))));

  withFunctionFields(
    functions
      .command('register')
      .description('register a dynamic function from a script file')
      .argument('<file>', 'the script')
      .option('-l, --lang <language>', 'nodejs, typescript, python or rust (default: from the extension)')
      .option('-t, --title <title>', 'its title: the function is <language>-<title> (default: the file name)'),
  ).action((file: string, options: FunctionFields & { lang?: string; title?: string }, command: Command) =>
    runCommand(command, state, async (ctx) => {
      const script = await readScriptFile(file, options);
      ctx.pointAt({ path: script.path, text: script.source });
      const body: FunctionRegistration = { language_title: script.languageTitle, script_content: script.content, ...(await fields(options)) };
      const created = await ctx.out.spin(`registering ${script.languageTitle}`, () => ctx.client.functions.register(body));
      ctx.out.answer(created, `registered ${created.language_title} (version ${created.version})`);
    }),
  );

  withFunctionFields(
    functions
      .command('update')
      .description('change a dynamic function: a new version')
      .argument('<language_title>')
      .option('-f, --file <file>', 'its new script'),
  ).action((languageTitle: string, options: FunctionFields & { file?: string }, command: Command) =>
    runCommand(command, state, async (ctx) => {
      const script = options.file !== undefined ? await readScriptFile(options.file) : undefined;
      if (script) ctx.pointAt({ path: script.path, text: script.source });
      const body: FunctionUpdate = { ...(script ? { script_content: script.content } : {}), ...(await fields(options)) };
      if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give --file, --description, --schema, --tag or --no-cache');
      const updated = await ctx.client.functions.update(languageTitle, body);
      ctx.out.answer(updated, `updated ${updated.language_title} (version ${updated.version})`);
    }),
  );

  functions
    .command('rm')
    .description('delete (deactivate) a dynamic function')
    .argument('<language_title>')
    .action((languageTitle: string, _options: unknown, command: Command) =>
      runCommand(command, state, async (ctx) => {
        const deleted = await ctx.client.functions.delete(languageTitle);
        ctx.out.answer(deleted, `deleted ${deleted.language_title} (version ${deleted.version})`);
      }),
    );

  functions
    .command('stats')
    .description('calls, errors, cache hits and duration percentiles in a window')
    .argument('<language_title>')
    .addOption(new Option('--window <window>', 'how far back').choices(['15m', '1h', '6h', '24h', '7d']))
    .action((languageTitle: string, options: { window?: StatsWindow }, command: Command) =>
      runCommand(command, state, async (ctx) => {
        const stats = await ctx.client.functions.stats(languageTitle, options.window);
        ctx.out.answer(stats, `${stats.language_title} over ${stats.window}: ${stats.calls} calls, ${stats.errors} errors, ${stats.cache_hits} cache hits; p50 ${show(stats.p50_ms)} ms, p95 ${show(stats.p95_ms)} ms, p99 ${show(stats.p99_ms)} ms`);
      }),
    );
}

export function addOperationsCommands(program: Command, state: CliState): void {
  program
    .command('health')
    .description('the service\'s health (exit 2 when it is down)')
    .action((_options: unknown, command: Command) =>
      runCommand(command, state, async (ctx) => {
        const report = await ctx.client.health();
        ctx.out.answer(report, () => {
          ctx.out.print(`${show(report.status)} (version ${show(report.version)})`);
          const components = typeof report.components === 'object' && report.components !== null ? (report.components as Record<string, unknown>) : {};
          for (const [name, component] of Object.entries(components)) {
            // Each runtime on a line of its own, as each other component.
            const parts = name === 'runtimes' && typeof component === 'object' && component !== null ? Object.entries(component) : [[name, component] as const];
            for (const [part, value] of parts) ctx.out.print(`  ${String(part).padEnd(10)} ${show((value as { status?: unknown } | null)?.status ?? value)}`);
          }
        });
        return report.status === 'down' ? EXIT_USAGE_OR_SERVICE : undefined;
      }),
    );

  program
    .command('runtimes')
    .description('what each language runs: versions, script forms, packages, limits')
    .action((_options: unknown, command: Command) => runCommand(command, state, async (ctx) => ctx.out.printJson(await ctx.client.runtimes())));
}
