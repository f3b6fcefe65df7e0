// How a stopped ppc64 task is made to run one system call (the `sc` ABI of
// the kernel's syscall entry): number in r0, arguments in r3..r8, result in
// r3 with CR0.SO set when r3 holds a (positive) errno.

import type { SyscallAbi } from '../types.js';
import type { RegField } from '../regtable.js';
import { readField, writeField } from './byte-order.js';
import { writeU32 } from '../../sys/native-endian.js';
import { CR0_SO, GP_REGS, GP_REGS_SIZE, NT_PRSTATUS, PT_KERNEL_KEPT_OFFSETS } from './regs.js';

const row = (name: string): RegField => {
  const r = GP_REGS.find((g) => g.name === name);
  if (!r) throw new Error(`no register ${name} in GP_REGS`);
  return r;
};
/** gpr[n] as a scalar row of its own. */
export const gpr = (n: number): RegField => ({ name: `gpr[${n}]`, offset: n * 8, image: 'u64' });

/** An instruction word in the task's byte order. */
const insn = (word: number): Buffer => { const b = Buffer.alloc(4); writeU32(b, word >>> 0, 0); return b; };
/** `sc` (0x44000002). */
export const SC_INSN = insn(0x44000002);
export const NR_RT_SIGRETURN = 172;
export const NR_RESTART_SYSCALL = 0;
export const SYSCALL_NR_GPR = 0;
export const SYSCALL_ARG_GPRS = [3, 4, 5, 6, 7, 8] as const;
export const SYSCALL_RESULT_GPR = 3;
export const SP_GPR = 1;

/** `li r<rt>, imm` (addi rt, 0, imm). */
const li = (rt: number, imm: number): Buffer => insn((14 << 26) | (rt << 21) | (imm & 0xffff));
/** `sc; li r0, 172; sc`: one call, then rt_sigreturn, which reads its ucontext at r1 (Arch.callThenSigreturn). */
export const CALL_THEN_SIGRETURN = Buffer.concat([SC_INSN, li(SYSCALL_NR_GPR, NR_RT_SIGRETURN), SC_INSN]);

/**
 * The syscall batch runner (SyscallAbi.batchCode), as instruction words, assembled from:
 *   mr r14, r3; mr r15, r4; mr r16, r5             (r5: the pollfd of the variant below)
 *   loop: cmpdi r15, 0; beq done
 *         ld r0, 0(r14); clrldi r0, r0, 1          (bit 63 of nr: go on after a failure)
 *         ld r3..r8, 8..48(r14); sc
 *         bns ok; neg r3, r3; std r3, 56(r14)      (CR0.SO: r3 is an errno, stored as -errno)
 *         ld r9, 0(r14); cmpdi r9, 0; blt next; b done
 *   ok:   std r3, 56(r14)
 *   next: addi r14, r14, 64; addi r15, r15, -1; b loop
 *   done: trap
 */
const BATCH_LOOP = [
  0x7c6e1b78, 0x7c8f2378, 0x7cb02b78, 0x2c2f0000, 0x41820054, 0xe80e0000, 0x78000040, 0xe86e0008, 0xe88e0010,
  0xe8ae0018, 0xe8ce0020, 0xe8ee0028, 0xe90e0030, 0x44000002, 0x4083001c, 0x7c6300d0, 0xf86e0038, 0xe92e0000,
  0x2c290000, 0x4180000c, 0x48000014, 0xf86e0038, 0x39ce0040, 0x39efffff, 0x4bffffac,
];
const words = (w: readonly number[]): Buffer => Buffer.concat(w.map(insn));
export const SYSCALL_BATCH_CODE = words([...BATCH_LOOP, 0x7fe00008]);

/**
 * SYSCALL_BATCH_CODE ending in rt_sigreturn (SyscallAbi.batchThenSigreturn): r5 holds the pollfd
 * (kept in r16), the loop as above, then at done:
 *   sendto(*(int *)r16, r16, 1, MSG_NOSIGNAL | MSG_DONTWAIT, 0, 0)   r0 335
 *   ppoll(r16, 1, 0, 0, 8)                                            r0 281
 *   close(*(int *)r16)                                                r0 6
 *   rt_sigreturn                                                      r0 172
 */
export const SYSCALL_BATCH_THEN_SIGRETURN = words([
  ...BATCH_LOOP,
  0xe8700002, 0x7e048378, 0x38a00001, 0x38c04040, 0x38e00000, 0x39000000, 0x3800014f, 0x44000002,
  0x7e038378, 0x38800001, 0x38a00000, 0x38c00000, 0x38e00008, 0x38000119, 0x44000002,
  0xe8700002, 0x38000006, 0x44000002,
  0x380000ac, 0x44000002,
]);

export const syscallAbi: SyscallAbi = {
  instruction: SC_INSN,
  instructionAlign: 4,
  stepBySyscallStops: true,
  regsNt: NT_PRSTATUS,
  untraceable: PT_KERNEL_KEPT_OFFSETS.map((offset) => ({ offset, mask: (1n << 64n) - 1n })),
  rtSigreturnNr: NR_RT_SIGRETURN,
  cloneArgOrder: ['flags', 'stack', 'parentTid', 'tls', 'childTid'],
  prepare(regs, ip, nr, args, sp) {
    if (regs.length < GP_REGS_SIZE) throw new Error(`ppc64 registers are ${GP_REGS_SIZE} bytes, got ${regs.length}`);
    if (args.length > SYSCALL_ARG_GPRS.length) throw new Error(`a syscall takes at most 6 arguments, got ${args.length}`);
    const out = Buffer.from(regs);
    writeField(out, gpr(SYSCALL_NR_GPR), BigInt(nr));
    args.forEach((a, i) => writeField(out, gpr(SYSCALL_ARG_GPRS[i]!), BigInt.asUintN(64, a)));
    writeField(out, row('nip'), ip);
    // trap 0: the kernel must not apply the restart rules of a syscall the task was stopped in
    // to the registers set here (its check looks for a syscall trap with CR0.SO and -ERESTART*).
    writeField(out, row('trap'), 0n);
    if (sp !== undefined) writeField(out, gpr(SP_GPR), sp);
    return out;
  },
  mmapCall(addr, len, prot, flags, fd, offset) {
    return { name: 'mmap', args: [addr, len, prot, flags, fd, offset] };
  },
  sp(regs) {
    return readField(regs, gpr(SP_GPR)) as bigint;
  },
  ip(regs) {
    return readField(regs, row('nip')) as bigint;
  },
  result(regs) {
    const r3 = readField(regs, gpr(SYSCALL_RESULT_GPR)) as bigint;
    const ccr = readField(regs, row('ccr')) as bigint;
    return (ccr & CR0_SO) !== 0n ? -BigInt.asIntN(64, r3) : BigInt.asIntN(64, r3);
  },
  ipAfter(ip) {
    return ip + BigInt(SC_INSN.length);
  },
  batchCode: SYSCALL_BATCH_CODE,
  batchThenSigreturn: SYSCALL_BATCH_THEN_SIGRETURN,
};
