import { pino, type Logger as PinoLogger } from 'pino';

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

/** A logger that drops everything (tests that do not assert on logs). */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
