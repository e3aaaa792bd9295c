/**
 * lmctl's exit codes: 0 success; 1 the script failed (it threw, timed out, did not compile, or its
 * params were refused); 2 everything else: a usage error, a service error, an unreachable service.
 * A shell or CI step can so tell "my script is wrong" from "the call did not happen".
 */
import { LambdaApiError } from '@lambda-microservice/client';

export const EXIT_OK = 0;
export const EXIT_SCRIPT_FAILED = 1;
export const EXIT_USAGE_OR_SERVICE = 2;

/**
 * The codes that are the script's outcome, not the service's: INVALID_PARAMS is here too, since it
 * is the function refusing its input (its params schema, or a script error named InvalidParams).
 */
export const SCRIPT_FAILURE_CODES: ReadonlySet<string> = new Set(['RUNTIME_ERROR', 'TIMEOUT', 'COMPILATION_ERROR', 'INVALID_PARAMS']);

/** A command used wrongly (a bad argument, a file that cannot be read): exit 2, with its message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function exitCodeOf(error: unknown): number {
  return error instanceof LambdaApiError && SCRIPT_FAILURE_CODES.has(error.code) ? EXIT_SCRIPT_FAILED : EXIT_USAGE_OR_SERVICE;
}
