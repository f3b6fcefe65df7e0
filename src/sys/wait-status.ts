/** Pure decoders of a wait status (the int waitpid stores), as the kernel encodes it. */
import { constants } from 'node:os';
import { PTRACE_EVENT_STOP } from './ptrace-constants.js';

const SIG = constants.signals;

/** The task exited normally. */
export const exited = (status: number): boolean => (status & 0x7f) === 0;
/** Its exit code (valid when exited). */
export const exitCode = (status: number): number => (status >> 8) & 0xff;
/** The task was killed by a signal. */
export const signaled = (status: number): boolean => (status & 0x7f) !== 0 && (status & 0x7f) !== 0x7f;
/** The killing signal (valid when signaled). */
export const termSig = (status: number): number => status & 0x7f;
/** A core dump was written (valid when signaled). */
export const coreDump = (status: number): boolean => (status & 0x80) !== 0;
/** The task is stopped (signal-delivery, group, syscall or ptrace-event stop). */
export const stopped = (status: number): boolean => (status & 0xff) === 0x7f;
/** The stop signal (valid when stopped; SIGTRAP|0x80 for syscall stops with TRACESYSGOOD). */
export const stopSig = (status: number): number => (status >> 8) & 0xff;
/** The PTRACE_EVENT_* of a ptrace-event stop (status >> 16), 0 otherwise. */
export const ptraceEvent = (status: number): number => (status >>> 16) & 0xff;
/** The task was resumed by SIGCONT (WCONTINUED). */
export const continued = (status: number): boolean => status === 0xffff;

const GROUP_STOP_SIGNALS = new Set([SIG.SIGSTOP, SIG.SIGTSTP, SIG.SIGTTIN, SIG.SIGTTOU]);

/**
 * A group-stop of a SEIZEd task (PTRACE_EVENT_STOP with a stopping signal): the case for
 * PTRACE_LISTEN. A PTRACE_INTERRUPT stop has PTRACE_EVENT_STOP with SIGTRAP instead.
 */
export const groupStop = (status: number): boolean =>
  stopped(status) && ptraceEvent(status) === PTRACE_EVENT_STOP && GROUP_STOP_SIGNALS.has(stopSig(status));

/** A PTRACE_INTERRUPT (or new-child auto-attach) stop of a SEIZEd task. */
export const interruptStop = (status: number): boolean =>
  stopped(status) && ptraceEvent(status) === PTRACE_EVENT_STOP && stopSig(status) === SIG.SIGTRAP;

/** A one-line human description, for error messages: 'exited with code 3', 'killed by signal 9 (SIGKILL)', ... */
export function describeStatus(status: number): string {
  const sigName = (n: number) => Object.entries(SIG).find(([, v]) => v === n)?.[0] ?? `signal ${n}`;
  if (exited(status)) return `exited with code ${exitCode(status)}`;
  if (signaled(status)) return `killed by ${sigName(termSig(status))}${coreDump(status) ? ' (core dumped)' : ''}`;
  if (continued(status)) return 'continued';
  if (stopped(status)) {
    const ev = ptraceEvent(status);
    return `stopped by ${sigName(stopSig(status) & 0x7f)}${ev ? ` (ptrace event ${ev})` : ''}`;
  }
  return `unknown wait status 0x${status.toString(16)}`;
}
