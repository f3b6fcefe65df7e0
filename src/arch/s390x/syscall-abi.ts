// How a stopped s390x task is made to run one system call: `svc 0` takes the number from r1,
// the arguments from r2..r7 and returns in r2 (arch/s390/kernel/syscall.c).

import type { SyscallAbi } from '../types.js';
import { NT_PRSTATUS, NT_S390_SYSTEM_CALL, PRSTATUS_ROWS, PRSTATUS_SIZE, REGS_CODEC } from './regs.js';
import { syscalls } from '../../sys/syscalls/s390x.js';

const { readField, writeField } = REGS_CODEC;

const row = (name: string) => {
  const r = PRSTATUS_ROWS.find((g) => g.name === name);
  if (!r) throw new Error(`no row ${name} in PRSTATUS_ROWS`);
  return r;
};
const PSW_ADDR = row('psw_addr');
const GPRS = row('gprs');
/** gprs[n] as a scalar field of NT_PRSTATUS. */
export const gpr = (n: number) => ({ name: `gprs[${n}]`, offset: GPRS.offset + 8 * n, image: 'u64' as const });

/** `svc 0`: with immediate 0 the kernel takes the number from r1. */
export const SVC_INSN = Buffer.from([0x0a, 0x00]);
export const NR_RT_SIGRETURN = syscalls.rt_sigreturn!;
export const NR_RESTART_SYSCALL = syscalls.restart_syscall!;
/**
 * `svc 0; svc 173`: one call (number in r1), then rt_sigreturn, which reads its frame at r15
 * (Arch.callThenSigreturn). A nonzero svc immediate is the number itself (numbers below 256).
 */
export const CALL_THEN_SIGRETURN = Buffer.from([...SVC_INSN, SVC_INSN[0]!, NR_RT_SIGRETURN]);
if (NR_RT_SIGRETURN > 0xff) throw new Error(`s390x rt_sigreturn is ${NR_RT_SIGRETURN}: it does not fit an svc immediate`);
/** r2..r7: the six argument registers; r2 also carries the result. */
export const ARG_GPRS = [2, 3, 4, 5, 6, 7] as const;
export const SP_GPR = 15;

/** struct mmap_arg_struct of sys_old_mmap: six unsigned longs, big-endian. */
function oldMmapBlock(args: readonly bigint[]): Buffer {
  const b = Buffer.alloc(48);
  args.forEach((a, i) => b.writeBigUInt64BE(BigInt.asUintN(64, a), i * 8));
  return b;
}

export const syscallAbi: SyscallAbi = {
  instruction: SVC_INSN,
  // Instructions are halfword-aligned: 0a 00 at an odd address is data (6.12's vDSO has such a copy
  // before its first svc 0), and running it there is a specification exception (SIGILL).
  instructionAlign: 2,
  regsNt: NT_PRSTATUS,
  stepBySyscallStops: true,
  rtSigreturnNr: NR_RT_SIGRETURN,
  cloneArgOrder: ['stack', 'flags', 'parentTid', 'childTid', 'tls'],
  prepare(regs, ip, nr, args, sp) {
    if (regs.length < PRSTATUS_SIZE) throw new Error(`s390x registers are ${PRSTATUS_SIZE} bytes, got ${regs.length}`);
    if (args.length > ARG_GPRS.length) throw new Error(`a syscall takes at most 6 arguments, got ${args.length}`);
    const out = Buffer.from(regs);
    writeField(out, gpr(1), BigInt(nr));
    args.forEach((a, i) => writeField(out, gpr(ARG_GPRS[i]!), BigInt.asUintN(64, a)));
    writeField(out, PSW_ADDR, ip);
    if (sp !== undefined) writeField(out, gpr(SP_GPR), sp);
    return out;
  },
  // s390x's mmap (90) is sys_old_mmap: one pointer to the six arguments.
  mmapCall(addr, len, prot, flags, fd, offset) {
    return { name: 'mmap', args: [], argStruct: oldMmapBlock([addr, len, prot, flags, fd, offset]) };
  },
  ip(regs) {
    return readField(regs, PSW_ADDR) as bigint;
  },
  sp(regs) {
    return readField(regs, gpr(SP_GPR)) as bigint;
  },
  result(regs) {
    return BigInt.asIntN(64, readField(regs, gpr(2)) as bigint);
  },
  ipAfter(ip) {
    return ip + BigInt(SVC_INSN.length);
  },
  // While cryo runs calls the kernel must see no interrupted syscall: a nonzero system_call makes it
  // restart that call (with the injected registers) when the task leaves its ptrace stop.
  sideRegsets: [{ nt: NT_S390_SYSTEM_CALL, whileInjecting: Buffer.alloc(4) }],
};
