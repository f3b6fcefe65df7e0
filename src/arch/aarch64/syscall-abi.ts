// How a stopped aarch64 task is made to run one system call: `svc #0` with the number in x8,
// arguments in x0..x5, the result (or -errno) in x0.

import type { SyscallAbi } from '../types.js';
import type { RegField } from '../regtable.js';
import { decodeTable, readField, writeField } from './byte-order.js';
import { GP_REGS, GP_REGS_SIZE, NT_PRSTATUS } from './regs.js';
import { NT_ARM_SSVE } from './sme.js';
import { NT_ARM_SVE, SVE_HEADER, SVE_HEADER_SIZE, SVE_MAX_SIZE, SVE_PT_REGS_SVE } from './sve.js';

/** Whether an NT_ARM_SVE or NT_ARM_SSVE regset holds live registers (not only the FPSIMD view). */
const sveLive = (saved: Buffer): boolean => saved.length > SVE_HEADER_SIZE && (Number(decodeTable(SVE_HEADER, saved).flags) & SVE_PT_REGS_SVE) !== 0;

const PSTATE_SS = 1n << 21n;
const row = (name: string): RegField => {
  const r = GP_REGS.find((g) => g.name === name);
  if (!r) throw new Error(`no register ${name} in GP_REGS`);
  return r;
};
/** x[n] as a scalar row of its own. */
export const xreg = (n: number): RegField => ({ name: `regs[${n}]`, offset: n * 8, image: 'u64' });

export const NR_RT_SIGRETURN = 139;
export const NR_RESTART_SYSCALL = 128;
export const SYSCALL_NR_REG = 8;
export const SYSCALL_RESULT_REG = 0;

/** An A64 instruction word as bytes (always little-endian). */
const a64 = (word: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(word >>> 0, 0); return b; };
/** `svc #0` (0xd4000001). */
export const SVC_INSN = a64(0xd4000001);
/** `movz x<rd>, #imm16`. */
const movz = (rd: number, imm16: number): Buffer => a64(0xd2800000 | (imm16 << 5) | rd);
/** `svc #0; mov x8, #139; svc #0`: one call, then rt_sigreturn, which reads its frame at sp (Arch.callThenSigreturn). */
export const CALL_THEN_SIGRETURN = Buffer.concat([SVC_INSN, movz(SYSCALL_NR_REG, NR_RT_SIGRETURN), SVC_INSN]);

/**
 * The syscall batch runner (SyscallAbi.batchCode), assembled from:
 *   mov x9, x0; mov x10, x1
 *   loop: cbz x10, done
 *         ldr x8, [x9]; and x8, x8, #0x7fffffffffffffff
 *         ldp x0, x1, [x9, #8]; ldp x2, x3, [x9, #24]; ldp x4, x5, [x9, #40]
 *         svc #0; str x0, [x9, #56]
 *         cmn x0, #4095; b.lo next
 *         ldr x11, [x9]; tbz x11, #63, done      (bit 63 of nr: go on after a failure)
 *   next: add x9, x9, #64; sub x10, x10, #1; b loop
 *   done: brk #0
 */
const BATCH_LOOP = 'e90300aaea0301aa'; // the two movs; with the pollfd (below) a third: mov x14, x2
const BATCH_BODY = 'ea0100b4280140f908f94092208540a9228d41a9249542a9010000d4201d00f91ffc3fb1630000542b0140f98b00f8b6290101914a0500d1f2ffff17';
export const SYSCALL_BATCH_CODE = Buffer.from(`${BATCH_LOOP}${BATCH_BODY}000020d4`, 'hex');

/**
 * SYSCALL_BATCH_CODE ending in rt_sigreturn (SyscallAbi.batchThenSigreturn): x2 holds the pollfd
 * (kept in x14), the loop as above, then at done:
 *   sendto(*(int *)x14, x14, 1, MSG_NOSIGNAL | MSG_DONTWAIT, 0, 0)   x8 206
 *   ppoll(x14, 1, 0, 0, 8)                                            x8 73
 *   close(*(int *)x14)                                                x8 57
 *   rt_sigreturn                                                      x8 139
 */
export const SYSCALL_BATCH_THEN_SIGRETURN = Buffer.from(`${BATCH_LOOP}ee0302aa${BATCH_BODY}`
  + 'c00180b9e1030eaa220080d2030888d2040080d2050080d2c81980d2010000d4'
  + 'e0030eaa210080d2020080d2030080d2040180d2280980d2010000d4'
  + 'c00180b9280780d2010000d4'
  + '681180d2010000d4', 'hex');

export const syscallAbi: SyscallAbi = {
  instruction: SVC_INSN,
  instructionAlign: 4,
  regsNt: NT_PRSTATUS,
  // PSTATE.SS: once ptrace has armed a single step the kernel sets it in every register write, and a
  // detach leaves it; it does nothing while the kernel's single step is off.
  untraceable: [{ offset: row('pstate').offset, mask: PSTATE_SS }],
  rtSigreturnNr: NR_RT_SIGRETURN,
  cloneArgOrder: ['flags', 'stack', 'parentTid', 'childTid', 'tls'],
  prepare(regs, ip, nr, args, sp) {
    if (regs.length < GP_REGS_SIZE) throw new Error(`aarch64 registers are ${GP_REGS_SIZE} bytes, got ${regs.length}`);
    if (args.length > 6) throw new Error(`a syscall takes at most 6 arguments, got ${args.length}`);
    const out = Buffer.from(regs);
    writeField(out, xreg(SYSCALL_NR_REG), BigInt(nr));
    args.forEach((a, i) => writeField(out, xreg(i), BigInt.asUintN(64, a)));
    writeField(out, row('pc'), ip);
    if (sp !== undefined) writeField(out, row('sp'), sp);
    return out;
  },
  mmapCall(addr, len, prot, flags, fd, offset) {
    return { name: 'mmap', args: [addr, len, prot, flags, fd, offset] };
  },
  sp: (regs) => readField(regs, row('sp')) as bigint,
  ip: (regs) => readField(regs, row('pc')) as bigint,
  result: (regs) => BigInt.asIntN(64, readField(regs, xreg(SYSCALL_RESULT_REG)) as bigint),
  ipAfter: (ip) => ip + BigInt(SVC_INSN.length),
  batchCode: SYSCALL_BATCH_CODE,
  batchThenSigreturn: SYSCALL_BATCH_THEN_SIGRETURN,
  // A syscall discards the SVE registers beyond V0-V31 (Documentation/arch/arm64/sve.rst) and leaves
  // streaming mode (sme.rst; ZA stays): a thread whose SVE state is live gets it back from
  // NT_ARM_SVE, one the dump stopped in streaming mode its streaming registers from NT_ARM_SSVE.
  keptRegsets: [NT_ARM_SVE, NT_ARM_SSVE].map((nt) => ({ nt, maxSize: SVE_MAX_SIZE, live: sveLive })),
};
