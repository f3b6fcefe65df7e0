// Syscall restart on x86_64: what happens to a thread that was stopped inside
// a system call (orig_ax >= 0) whose result register holds a -ERESTART*
// code. The kernel's rules (arch/x86/kernel/signal.c) for the three ways a
// thread leaves such a stop, and what cryo (like CRIU) stores in the image.

import type { RegsFix, RestartAction, RestartRule, RestartUse, StoppedCall, ThreadInfo } from '../types.js';
import { EINTR, restartRuleForErrno } from '../restart-rules.js';
import type { ImageRecord } from '../regtable.js';
import { REGS_MODE } from './regs.js';
import { NR_RESTART_SYSCALL, SYSCALL_INSN } from './syscall-abi.js';
import { syscallsIa32 } from '../../sys/syscalls/ia32.js';

export { ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK, EINTR, RESTART_RULES } from '../restart-rules.js';

/** The rule for a thread's registers, or undefined when it was not stopped in a restartable syscall. */
export function restartRuleFor(ax: bigint, origAx: bigint, bits = 64): RestartRule | undefined {
  if (BigInt.asIntN(bits, origAx) < 0n) return undefined;
  const err = -BigInt.asIntN(bits, ax);
  return restartRuleForErrno(err);
}

/** The task ABI's word width and restart_syscall number (ia32: 32 bits, i386's 0). */
export interface RestartAbi { readonly bits: 32 | 64; readonly nrRestartSyscall: number }
const NATIVE: RestartAbi = { bits: 64, nrRestartSyscall: NR_RESTART_SYSCALL };
const IA32: RestartAbi = { bits: 32, nrRestartSyscall: syscallsIa32.restart_syscall! };

/** Applies `action` to ax/ip of a copy of gpregs. */
export function applyRestart(gp: ImageRecord, action: RestartAction, abi: RestartAbi = NATIVE): ImageRecord {
  const bits = abi.bits;
  const out = { ...gp };
  const ip = BigInt(gp.ip as bigint);
  switch (action) {
    case 'none': break;
    case 'restart':
      out.ax = gp.orig_ax;
      out.ip = ip - BigInt(SYSCALL_INSN.length);
      break;
    case 'restart_syscall':
      out.ax = BigInt(abi.nrRestartSyscall);
      out.ip = ip - BigInt(SYSCALL_INSN.length);
      break;
    case 'eintr':
      out.ax = BigInt.asUintN(bits, -BigInt(EINTR));
      break;
  }
  return out;
}

/** The dump-time rule: the registers the restored thread must start with (`use`: or the call ending's frame). */
export function fixSyscallRestart(ti: ThreadInfo, use: RestartUse = 'onDump'): RegsFix {
  const gp = ti.gpregs as ImageRecord;
  // An ia32 thread's registers are 32 bits wide, zero-extended in the image; its numbers are i386's.
  const abi = gp.mode === REGS_MODE.COMPAT ? IA32 : NATIVE;
  const rule = restartRuleFor(BigInt(gp.ax as bigint), BigInt(gp.orig_ax as bigint), abi.bits);
  const action = rule?.[use] ?? 'none';
  return { action, threadInfo: { ...ti, gpregs: applyRestart(gp, action, abi) } };
}

const ARG_REGS = ['di', 'si', 'dx', 'r10', 'r8', 'r9'];
const ARG_REGS_IA32 = ['bx', 'cx', 'dx', 'si', 'di', 'bp'];

/** The call orig_ax names (the kernel keeps it until the thread leaves the stop); its arguments are untouched. */
export function stoppedCall(ti: ThreadInfo): StoppedCall | undefined {
  const gp = ti.gpregs as ImageRecord;
  const compat = gp.mode === REGS_MODE.COMPAT;
  const abi = compat ? IA32 : NATIVE;
  const nr = BigInt.asIntN(abi.bits, BigInt(gp.orig_ax as bigint));
  if (nr < 0n) return undefined;
  return {
    nr: Number(nr),
    result: BigInt.asIntN(abi.bits, BigInt(gp.ax as bigint)),
    args: (compat ? ARG_REGS_IA32 : ARG_REGS).map((r) => BigInt(gp[r] as bigint)),
    again: () => ({ ...ti, gpregs: applyRestart(gp, 'restart', abi) }),
  };
}
