/**
 * Why a local runtime process died, in the terms its users need: a cause (does it count against
 * the scripts that were running in it?), words for the log and health, and the error the calls
 * in flight fail with.
 */
import { constants as osConstants } from 'node:os';

import { ServiceError } from '../errors/service-error.js';
import type { Language } from '../runtimes/runtime.js';
import type { CgroupLimits } from '../sandbox/cgroup.js';

/**
 * Why a process died. The first four are counted against the scripts that were running in it
 * (runtime-pool.ts refuses a script that keeps doing it); a kill from outside (an operator, the
 * machine's own OOM killer) or an exit of the runtime itself is not.
 */
export type CrashCause = 'fatal_error' | 'out_of_memory' | 'unresponsive' | 'protocol' | 'killed' | 'exited' | 'stopped';
const SCRIPT_CAUSES: ReadonlySet<CrashCause> = new Set<CrashCause>(['fatal_error', 'out_of_memory', 'unresponsive', 'protocol']);
/** How V8 and the C++ runtime end a process on a fatal error (an abort, a trap, a fault), and seccomp's kill. */
const FATAL_SIGNALS: ReadonlySet<string> = new Set(['SIGABRT', 'SIGTRAP', 'SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGSYS']);

/** Why this side killed a process. */
export interface Kill {
  readonly why: string;
  readonly cause: CrashCause;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly outOfMemory: boolean;
  /** This side killed it (unresponsive, a call overdue, a protocol violation, stop). */
  readonly killedFor: Kill | undefined;
  readonly stderr: string;
}

function signalOf(code: number | null, signal: NodeJS.Signals | null): NodeJS.Signals | null {
  if (signal !== null) return signal;
  // bubblewrap (and the shell before it) report a child killed by a signal as exit code 128 + signal.
  if (code !== null && code > 128 && code < 128 + 65) {
    const name = Object.entries(osConstants.signals).find(([, number]) => number === code - 128)?.[0];
    if (name) return name as NodeJS.Signals;
  }
  return null;
}

function causeOf(exit: Exit): CrashCause {
  if (exit.outOfMemory) return 'out_of_memory';
  if (exit.killedFor) return exit.killedFor.cause;
  const signal = signalOf(exit.code, exit.signal);
  if (signal) return FATAL_SIGNALS.has(signal) ? 'fatal_error' : 'killed';
  return 'exited';
}

/** What ended the process, as a clause ("it was killed by SIGSEGV"). */
export function describeExit(exit: Exit, limits: CgroupLimits | undefined): string {
  if (exit.outOfMemory) return `it ran out of memory (its limit is ${Math.round((limits?.memoryBytes ?? 0) / 1048576)} MiB) and the kernel killed it`;
  if (exit.killedFor) return exit.killedFor.why;
  const signal = signalOf(exit.code, exit.signal);
  if (signal) return `it was killed by ${signal}${signal === 'SIGABRT' || signal === 'SIGTRAP' ? ' (a fatal V8 error)' : ''}`;
  return `it exited with code ${String(exit.code)}`;
}

/**
 * The RUNTIME_ERROR (`reason: "sandbox_crashed"`) of a call that was running in a process that
 * died; `exit` is undefined when the channel closed and no exit came in time.
 */
export function crashedCallError(language: Language, exit: Exit | undefined, limits: CgroupLimits | undefined, inFlight: number): ServiceError {
  const why = exit ? describeExit(exit, limits) : 'its channel closed';
  const cause = exit ? causeOf(exit) : 'exited';
  return new ServiceError('RUNTIME_ERROR', `the ${language} runtime process running this call died: ${why}; it is restarted, and the session goes on there`, {
    reason: 'sandbox_crashed',
    cause,
    // Counted against this call's script (runtime-pool.ts) only where a script can have caused it.
    counts_against_script: SCRIPT_CAUSES.has(cause),
    language,
    ...(exit?.signal || exit?.code !== null ? { signal: signalOf(exit?.code ?? null, exit?.signal ?? null) ?? undefined, exit_code: exit?.code ?? undefined } : {}),
    out_of_memory: exit?.outOfMemory ?? false,
    in_flight: Math.max(1, inFlight),
  });
}
