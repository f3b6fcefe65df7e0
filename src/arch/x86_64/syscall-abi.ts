// How a stopped x86_64 task is made to run one system call: the registers
// that carry the number, arguments and result, named by their GP_REGS rows.

import type { SyscallAbi } from '../types.js';
import type { RegField } from '../regtable.js';
import { readField, writeField } from './byte-order.js';
import { GP_REGS, GP_REGS_SIZE, NT_PRSTATUS } from './regs.js';

const reg = (name: string): RegField => {
  const r = GP_REGS.find((g) => g.name === name);
  if (!r) throw new Error(`no register ${name} in GP_REGS`);
  return r;
};

/** `syscall`. */
export const SYSCALL_INSN = Buffer.from([0x0f, 0x05]);
export const SYSCALL_NR_REG = 'ax';
export const SYSCALL_ARG_REGS = ['di', 'si', 'dx', 'r10', 'r8', 'r9'] as const;
export const SYSCALL_RESULT_REG = 'ax';
export const NR_RT_SIGRETURN = 15;
export const NR_RESTART_SYSCALL = 219;

/** `syscall; mov $15,%eax; syscall`: one call, then rt_sigreturn (Arch.callThenSigreturn). */
export const CALL_THEN_SIGRETURN = Buffer.concat([SYSCALL_INSN, Buffer.from([0xb8, NR_RT_SIGRETURN, 0, 0, 0]), SYSCALL_INSN]);

/**
 * The syscall batch runner (see SyscallAbi.batchCode), assembled from:
 *   mov r12, rdi; mov r13, rsi
 *   loop: test r13, r13; jz done
 *         mov rax, [r12]; btr rax, 63
 *         mov rdi, [r12+8]; mov rsi, [r12+16]; mov rdx, [r12+24]
 *         mov r10, [r12+32]; mov r8, [r12+40]; mov r9, [r12+48]
 *         syscall; mov [r12+56], rax
 *         cmp rax, -4095; jb next
 *         bt qword [r12], 63; jnc done        (bit 63 of nr: go on after a failure)
 *   next: add r12, 64; dec r13; jmp loop
 *   done: int3
 */
export const SYSCALL_BATCH_CODE = Buffer.from(
  '4989fc4989f54d85ed7447498b0424480fbaf03f498b7c2408498b742410498b5424184d8b5424204d8b4424284d8b4c2430'
  + '0f054989442438483d01f0ffff7208490fba24243f73094983c44049ffcdebb4cc', 'hex');

/**
 * SYSCALL_BATCH_CODE ending in rt_sigreturn (SyscallAbi.batchThenSigreturn): rdx holds the pollfd;
 * the loop as above (r14 = rdx), then at done:
 *   sendto([r14], r14, 1, MSG_NOSIGNAL | MSG_DONTWAIT, 0, 0)   eax 44
 *   ppoll(r14, 1, 0, 0, 8)                                      eax 271
 *   close([r14])                                                eax 3
 *   rt_sigreturn                                                eax 15
 */
export const SYSCALL_BATCH_THEN_SIGRETURN = Buffer.from(
  '4989fc4989f54989d64d85ed7447498b0424480fbaf03f498b7c2408498b742410498b5424184d8b5424204d8b4424284d8b4c2430'
  + '0f054989442438483d01f0ffff7208490fba24243f73094983c44049ffcdebb4'
  + 'b82c00000049633e4c89f6ba0100000041ba404000004531c04531c90f05'
  + 'b80f0100004c89f7be0100000031d24531d241b8080000000f05'
  + 'b80300000049633e0f05'
  + 'b80f0000000f05', 'hex');

export const syscallAbi: SyscallAbi = {
  instruction: SYSCALL_INSN,
  regsNt: NT_PRSTATUS,
  rtSigreturnNr: NR_RT_SIGRETURN,
  cloneArgOrder: ['flags', 'stack', 'parentTid', 'childTid', 'tls'],
  prepare(regs, ip, nr, args, sp) {
    if (regs.length < GP_REGS_SIZE) throw new Error(`x86_64 registers are ${GP_REGS_SIZE} bytes, got ${regs.length}`);
    if (args.length > SYSCALL_ARG_REGS.length) throw new Error(`a syscall takes at most 6 arguments, got ${args.length}`);
    const out = Buffer.from(regs);
    writeField(out, reg(SYSCALL_NR_REG), BigInt(nr));
    // orig_ax = -1: the kernel must not apply syscall-restart logic of the
    // interrupted syscall to the registers we set.
    writeField(out, reg('orig_ax'), (1n << 64n) - 1n);
    args.forEach((a, i) => writeField(out, reg(SYSCALL_ARG_REGS[i]!), BigInt.asUintN(64, a)));
    writeField(out, reg('ip'), ip);
    if (sp !== undefined) writeField(out, reg('sp'), sp);
    return out;
  },
  mmapCall(addr, len, prot, flags, fd, offset) {
    return { name: 'mmap', args: [addr, len, prot, flags, fd, offset] };
  },
  sp(regs) {
    return readField(regs, reg('sp')) as bigint;
  },
  ip(regs) {
    return readField(regs, reg('ip')) as bigint;
  },
  result(regs) {
    return BigInt.asIntN(64, readField(regs, reg(SYSCALL_RESULT_REG)) as bigint);
  },
  ipAfter(ip) {
    return ip + BigInt(SYSCALL_INSN.length);
  },
  batchCode: SYSCALL_BATCH_CODE,
  batchThenSigreturn: SYSCALL_BATCH_THEN_SIGRETURN,
};
