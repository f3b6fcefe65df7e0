// How a stopped ppc64 task is made to run one system call (the `sc` ABI of
// the kernel's syscall entry): number in r0, arguments in r3..r8, result in
// r3 with CR0.SO set when r3 holds a (positive) errno.

import type { SyscallAbi } from '../types.js';
import type { RegField } from '../regtable.js';
import { readField, writeField } from './byte-order.js';
import { writeU32 } from '../../sys/native-endian.js';
import { CR0_SO, GP_REGS, GP_REGS_SIZE, NT_PRSTATUS } from './regs.js';

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

export const syscallAbi: SyscallAbi = {
  instruction: SC_INSN,
  instructionAlign: 4,
  stepBySyscallStops: true,
  regsNt: NT_PRSTATUS,
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
};
