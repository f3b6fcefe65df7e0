// Syscall restart on aarch64 (arch/arm64/kernel/signal.c do_signal): unlike x86 and ppc64, the
// kernel applies the restart before it looks for a signal, so a thread that ptrace stops inside
// a system call already shows it rewound: pc at the `svc`, x0 back to orig_x0, the syscall
// forgotten. The dump finds no -ERESTART* code to act on; the restored thread runs the call
// again (for ERESTART_RESTARTBLOCK the original call with its original arguments, not
// restart_syscall, whose kernel state does not survive a dump anyway); the call ending's frame
// (RestartRule.onRunOn) gets the same.

import type { RegsFix, StoppedCall, ThreadInfo } from '../types.js';

export function fixSyscallRestart(ti: ThreadInfo): RegsFix {
  return { action: 'none', threadInfo: ti };
}

/**
 * Not known: before a stop the kernel forgets which call the thread returns from (syscallno -1,
 * do_signal's forget_syscall), and ptrace shows no orig_x0 (the first argument, whose register
 * the result took).
 */
export function stoppedCall(_ti: ThreadInfo): StoppedCall | undefined {
  return undefined;
}
