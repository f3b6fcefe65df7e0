// Syscall restart on s390x (arch/s390/kernel/signal.c, do_signal): a thread stopped inside a
// system call has its int_code in NT_S390_SYSTEM_CALL (instruction length << 16 | number, 0
// outside a syscall) and a -ERESTART* code in r2. Restarting = r2 back to orig_gpr2 and the PSW
// address back over the svc (the ilc says how long it was). What cryo stores is CRIU's choice too.

import type { RegsFix, RestartAction, RestartRule, RestartUse, StoppedCall, ThreadInfo } from '../types.js';
import type { ImageRecord } from '../regtable.js';
import { NR_RESTART_SYSCALL } from './syscall-abi.js';
import { EINTR, restartRuleForErrno } from '../restart-rules.js';

export { ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK, RESTART_RULES } from '../restart-rules.js';

const gprsOf = (gp: ImageRecord): bigint[] => (gp.gprs as (bigint | number)[]).map((v) => BigInt(v));

/** The rule for a thread's registers, or undefined when it was not stopped in a restartable syscall. */
export function restartRuleFor(gp: ImageRecord): RestartRule | undefined {
  if (Number(gp.system_call ?? 0) === 0) return undefined;
  return restartRuleForErrno(-BigInt.asIntN(64, gprsOf(gp)[2]!));
}

/** Applies `action` to r2 (and r1) and the PSW address of a copy of gpregs. */
export function applyRestart(gp: ImageRecord, action: RestartAction): ImageRecord {
  const gprs = gprsOf(gp);
  const ilc = BigInt((Number(gp.system_call ?? 0) >>> 16) & 0xffff);
  const out: ImageRecord = { ...gp, gprs };
  switch (action) {
    case 'none': break;
    case 'restart':
      gprs[2] = BigInt(gp.orig_gpr2 as bigint);
      out.psw_addr = BigInt(gp.psw_addr as bigint) - ilc;
      break;
    case 'restart_syscall':
      // Re-entered through `svc 0` the number comes from r1.
      gprs[2] = BigInt(gp.orig_gpr2 as bigint);
      gprs[1] = BigInt(NR_RESTART_SYSCALL);
      out.psw_addr = BigInt(gp.psw_addr as bigint) - ilc;
      break;
    case 'eintr':
      gprs[2] = BigInt.asUintN(64, -BigInt(EINTR));
      break;
  }
  return out;
}

/** The dump-time rule: the registers the restored thread must start with (`use`: or the call ending's frame). */
export function fixSyscallRestart(ti: ThreadInfo, use: RestartUse = 'onDump'): RegsFix {
  const gp = ti.gpregs as ImageRecord;
  const action = restartRuleFor(gp)?.[use] ?? 'none';
  return { action, threadInfo: { ...ti, gpregs: applyRestart(gp, action) } };
}

/** The call the int_code names (its low 16 bits; 0 outside a syscall); r2 holds the result, orig_gpr2 the first argument. */
export function stoppedCall(ti: ThreadInfo): StoppedCall | undefined {
  const gp = ti.gpregs as ImageRecord;
  const code = Number(gp.system_call ?? 0);
  if (code === 0) return undefined;
  const gprs = gprsOf(gp);
  return {
    nr: code & 0xffff,
    result: BigInt.asIntN(64, gprs[2]!),
    args: [BigInt(gp.orig_gpr2 as bigint), ...gprs.slice(3, 8)],
    again: () => ({ ...ti, gpregs: applyRestart(gp, 'restart') }),
  };
}
