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

export const syscallAbi: SyscallAbi = {
  instruction: SVC_INSN,
  instructionAlign: 4,
  regsNt: NT_PRSTATUS,
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
  // A syscall discards the SVE registers beyond V0-V31 (Documentation/arch/arm64/sve.rst) and leaves
  // streaming mode (sme.rst; ZA stays): a thread whose SVE state is live gets it back from
  // NT_ARM_SVE, one the dump stopped in streaming mode its streaming registers from NT_ARM_SSVE.
  keptRegsets: [NT_ARM_SVE, NT_ARM_SSVE].map((nt) => ({ nt, maxSize: SVE_MAX_SIZE, live: sveLive })),
};
