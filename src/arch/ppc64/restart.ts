// Syscall restart on ppc64 (arch/powerpc/kernel/signal.c check_syscall_restart): a thread stopped
// inside a system call has a syscall trap (0xc00 for `sc`, 0x3000 for `scv`) and the -ERESTART*
// code in r3: for `sc` as a positive errno with CR0.SO set, for `scv` as a negative one. The dump
// applies the rule's onDump action (as CRIU does) and clears the trap: the restored thread
// comes from user space.

import type { RegsFix, RestartAction, RestartRule, RestartUse, StoppedCall, ThreadInfo } from '../types.js';
import type { ImageRecord } from '../regtable.js';
import { EINTR, restartRuleForErrno } from '../restart-rules.js';
import { CR0_SO } from './regs.js';
import { NR_RESTART_SYSCALL, SC_INSN } from './syscall-abi.js';

export const TRAP_SC = 0xc00n;
export const TRAP_SCV = 0x3000n;

type Kind = 'sc' | 'scv' | undefined;

const big = (v: unknown): bigint => BigInt(v as bigint | number);

function syscallKind(gp: ImageRecord): Kind {
  const trap = big(gp.trap) & ~0xfn;
  return trap === TRAP_SC ? 'sc' : trap === TRAP_SCV ? 'scv' : undefined;
}

/** The rule for a thread's registers, or undefined when it was not stopped in a restartable syscall. */
export function restartRuleFor(gp: ImageRecord): RestartRule | undefined {
  const kind = syscallKind(gp);
  const r3 = big((gp.gpr as unknown[])[3]);
  if (kind === 'sc') return (big(gp.ccr) & CR0_SO) !== 0n ? restartRuleForErrno(r3) : undefined;
  if (kind === 'scv') return restartRuleForErrno(-BigInt.asIntN(64, r3));
  return undefined;
}

/** Applies `action` to a copy of gpregs (r0, r3, nip, CR0.SO as the kernel would). */
export function applyRestart(gp: ImageRecord, action: RestartAction): ImageRecord {
  const out: ImageRecord = { ...gp, gpr: [...(gp.gpr as bigint[])] };
  const gpr = out.gpr as bigint[];
  const back = big(gp.nip) - BigInt(SC_INSN.length);
  switch (action) {
    case 'none': break;
    case 'restart':
      gpr[3] = big(gp.orig_gpr3);
      out.nip = back;
      break;
    case 'restart_syscall':
      gpr[0] = BigInt(NR_RESTART_SYSCALL);
      out.nip = back;
      break;
    case 'eintr':
      if (syscallKind(gp) === 'scv') {
        gpr[3] = BigInt.asUintN(64, -BigInt(EINTR));
      } else {
        gpr[3] = BigInt(EINTR);
        out.ccr = big(gp.ccr) | CR0_SO;
      }
      break;
  }
  out.trap = 0n;
  return out;
}

/** The dump-time rule, on the live registers (a suspended transaction's are in tmstate); `use`: or the call ending frame's. */
export function fixSyscallRestart(ti: ThreadInfo, use: RestartUse = 'onDump'): RegsFix {
  const tm = ti.tmstate as ImageRecord | undefined;
  const live = (tm?.gpregs ?? ti.gpregs) as ImageRecord;
  const action = restartRuleFor(live)?.[use] ?? 'none';
  const fixed = applyRestart(live, action);
  if (tm) return { action, threadInfo: { ...ti, gpregs: { ...(ti.gpregs as ImageRecord), trap: 0n }, tmstate: { ...tm, gpregs: fixed } } };
  return { action, threadInfo: { ...ti, gpregs: fixed } };
}

/**
 * The call r0 names while the trap says "syscall" (a thread past a signal's delivery or an
 * rt_sigreturn has the trap's no-restart flag, which syscallKind does not take for a syscall);
 * r3 holds the result, orig_gpr3 the first argument. A suspended transaction's thread: undefined.
 */
export function stoppedCall(ti: ThreadInfo): StoppedCall | undefined {
  if (ti.tmstate !== undefined) return undefined;
  const gp = ti.gpregs as ImageRecord;
  const kind = syscallKind(gp);
  if (kind === undefined) return undefined;
  const gpr = (gp.gpr as unknown[]).map(big);
  const r3 = gpr[3]!;
  const result = kind === 'scv' ? BigInt.asIntN(64, r3) : (big(gp.ccr) & CR0_SO) !== 0n ? -r3 : r3;
  return { nr: Number(gpr[0]), result, args: [big(gp.orig_gpr3), ...gpr.slice(4, 9)], again: () => ({ ...ti, gpregs: applyRestart(gp, 'restart') }) };
}
