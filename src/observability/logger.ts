import { pino, type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';

/** The logger every component receives; nothing in library code writes to the console. */
export type Logger = PinoLogger;

/** Keys whose values never reach a log line. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'password',
  'token',
  'secret',
  '*.password',
  '*.token',
  '*.secret',
  '*.authorization',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino({ level, base: undefined, redact: { paths: REDACTED_PATHS, censor: '[masked]' } }, destination ?? process.stdout);
}

/**
 * The service's own logger (`npm start`): readable lines (pino-pretty, colours) when stdout is a
 * terminal, JSON lines otherwise (a log collector, a pipe, the tests). LOG_FORMAT=json|pretty forces one.
 */
export function createServiceLogger(level: string, format: string | undefined = process.env.LOG_FORMAT): Logger {
  const readable = format === 'pretty' || (format !== 'json' && process.stdout.isTTY === true);
  if (!readable) return createLogger(level);
  return createLogger(level, pretty({ colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true }));
}

/** A logger that drops everything (tests that do not assert on logs). */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
