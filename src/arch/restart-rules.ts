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

/**
 * Calls whose wait ends with EINTR when a ptrace interrupt (cryo's freeze) stops the thread in it
 * (the wait returns -EINTR on any pending signal, not a restart code, so the kernel never runs it
 * again), by name, with when it may run again unharmed.
 */
export const FREEZE_RESTARTABLE: Readonly<Record<string, (args: readonly bigint[]) => boolean>> = {
  // io_uring_enter(fd, to_submit, min_complete, flags, ...) that submitted nothing: a wait for
  // completions, which stay in the CQ ring until the program takes them, so waiting again loses
  // none. A wait with a timeout (IORING_ENTER_EXT_ARG) starts its whole timeout again.
  io_uring_enter: (args) => BigInt.asUintN(32, args[1]!) === 0n,
};
