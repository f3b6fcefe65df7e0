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

/**
 * The syscall batch runner (SyscallAbi.batchCode), assembled from:
 *   lgr r8, r2; lgr r9, r3; lgr r10, r4              (r4: the pollfd of the variant below)
 *   loop: ltgr r9, r9; jz done
 *         lg r1, 0(r8); nihh r1, 0x7fff              (bit 63 of nr: go on after a failure)
 *         lg r2..r7, 8..48(r8); svc 0; stg r2, 56(r8)
 *         lghi r0, -4095; clgr r2, r0; jl next
 *         lg r0, 0(r8); ltgr r0, r0; jnm done
 *   next: la r8, 64(r8); aghi r9, -1; j loop
 *   done: .short 0x0001                              (the breakpoint: SIGTRAP for a traced task)
 */
const BATCH_LOOP = 'b9040082b9040093b90400a4b9020099a7840030e31080000004a5147fffe32080080004e33080100004e34080180004e3508020'
  + '0004e36080280004e370803000040a00e32080380024a709f001b9210020a7440009e30080000004b9020000a7b4000841808040a79bffffa7f4ffd0';
export const SYSCALL_BATCH_CODE = Buffer.from(`${BATCH_LOOP}0001`, 'hex');

/**
 * SYSCALL_BATCH_CODE ending in rt_sigreturn (SyscallAbi.batchThenSigreturn): r4 holds the pollfd
 * (kept in r10), the loop as above, then at done:
 *   sendto(*(int *)r10, r10, 1, MSG_NOSIGNAL | MSG_DONTWAIT, 0, 0)   r1 369
 *   ppoll(r10, 1, 0, 0, 8)                                            r1 302
 *   close(*(int *)r10)                                                r1 6
 *   rt_sigreturn                                                      r1 173
 */
export const SYSCALL_BATCH_THEN_SIGRETURN = Buffer.from(`${BATCH_LOOP}`
  + 'e320a0000014b904003aa7490001a7594040a7690000a7790000a71901710a00'
  + 'b904002aa7390001a7490000a7590000a7690008a719012e0a00'
  + 'e320a0000014a71900060a00'
  + 'a71900ad0a00', 'hex');

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
  batchCode: SYSCALL_BATCH_CODE,
  batchThenSigreturn: SYSCALL_BATCH_THEN_SIGRETURN,
  // While cryo runs calls the kernel must see no interrupted syscall: a nonzero system_call makes it
  // restart that call (with the injected registers) when the task leaves its ptrace stop.
  sideRegsets: [{ nt: NT_S390_SYSTEM_CALL, whileInjecting: Buffer.alloc(4) }],
};
