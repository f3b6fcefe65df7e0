// A thread the freeze stopped inside a wait that the kernel then ended with EINTR (io_uring_enter)
// is put back to enter that wait again, as the kernel does for ERESTARTNOHAND: "dumping never
// harms the task" (a program that takes that EINTR for "no completion" ends its work early).
// Done in the stop itself, so the task left running, a refused or failed dump, and the image all
// get it.
import { ptrace } from '../sys/index.js';
import { numberIn } from '../inject/index.js';
import type { Arch, Regsets, ThreadInfo } from '../arch/types.js';
import { EINTR, FREEZE_RESTARTABLE } from '../arch/restart-rules.js';

/**
 * `ti` (read from `regsets` of stopped thread `tid`), or its registers rewound into the wait, written
 * to the thread too. Not where a signal is pending for the thread, unblocked (`signalPending`): that
 * EINTR may be the signal's, which the program must see once its handler ran.
 */
export function reenterFrozenWait(tid: number, arch: Arch, regsets: Regsets, ti: ThreadInfo, signalPending: boolean): { regsets: Regsets; ti: ThreadInfo } {
  if (signalPending) return { regsets, ti };
  const call = arch.stoppedCall(ti);
  if (call === undefined || call.result !== -BigInt(EINTR)) return { regsets, ti };
  const restartable = Object.entries(FREEZE_RESTARTABLE).find(([name]) => numberIn(arch.taskSyscall, name) === call.nr)?.[1];
  if (!restartable?.(call.args)) return { regsets, ti };
  // Only where the registers encode to the regset read (ia32's do not: restore rebuilds them in the
  // 64-bit view). Words the image leaves out (ppc64's softe, dar, dsisr, result) the write ignores.
  const nt = arch.syscall.regsNt;
  const againTi = call.again();
  const again = arch.regsetsFromThreadInfo(againTi).get(nt);
  if (again === undefined || again.length !== regsets.get(nt)?.length) return { regsets, ti };
  ptrace.setRegset(tid, nt, again);
  return { regsets: new Map(regsets).set(nt, again), ti: againTi };
}
