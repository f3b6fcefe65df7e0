// The kernel's syscall-restart codes and what each does on the three ways a thread leaves a stop
// inside a system call (kernel/signal.c and every arch's signal code agree on them). Each
// architecture applies them to its own registers (src/arch/<arch>/restart.ts).

import type { RestartRule } from './types.js';

export const ERESTARTSYS = 512;
export const ERESTARTNOINTR = 513;
export const ERESTARTNOHAND = 514;
export const ERESTART_RESTARTBLOCK = 516;
export const EINTR = 4;

export const RESTART_RULES: readonly RestartRule[] = [
  { errno: ERESTARTSYS, name: 'ERESTARTSYS',
    noHandler: 'restart', handlerSaRestart: 'restart', handler: 'eintr', onDump: 'restart', onRunOn: 'restart' },
  { errno: ERESTARTNOINTR, name: 'ERESTARTNOINTR',
    noHandler: 'restart', handlerSaRestart: 'restart', handler: 'restart', onDump: 'restart', onRunOn: 'restart' },
  { errno: ERESTARTNOHAND, name: 'ERESTARTNOHAND',
    noHandler: 'restart', handlerSaRestart: 'eintr', handler: 'eintr', onDump: 'restart', onRunOn: 'restart' },
  // The restart block (nanosleep's remaining time, futex timeouts, ...) is
  // kernel memory that does not survive a dump: restart_syscall in the
  // restored task would find none and return -EINTR anyway, so say so now.
  // A task a dump leaves running that runs into the call ending's rt_sigreturn (cryo killed in a
  // call) has lost it too: it runs the call again, whole (a sleep longer than asked, not EINTR).
  { errno: ERESTART_RESTARTBLOCK, name: 'ERESTART_RESTARTBLOCK',
    noHandler: 'restart_syscall', handlerSaRestart: 'eintr', handler: 'eintr', onDump: 'eintr', onRunOn: 'restart' },
];

/** The rule for restart code `errno` (positive), or undefined when it is none. */
export function restartRuleForErrno(errno: bigint): RestartRule | undefined {
  return RESTART_RULES.find((r) => BigInt(r.errno) === errno);
}
