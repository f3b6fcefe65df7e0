// ia32 tasks on x86_64: the Arch of a 32-bit task, made from the x86_64 one.
//
// cryo drives such a task in 64-bit mode (the tracer's PTRACE_GETREGS/SETREGS view with CS set
// to the 64-bit code segment), so every injected call, struct and batch is the 64-bit one and
// the kernel does the same work. The calls whose effect depends on the ABI that makes them go
// through the task's own entry (int 0x80, i386 numbers, 32-bit structs): rt_sigaction (it marks
// a handler for 32-bit frames), get/set_robust_list (the compat list head), rt_sigreturn (the
// 32-bit frame that also switches the task back to 32-bit mode). The 32-bit vDSO is mapped with
// arch_prctl(ARCH_MAP_VDSO_32) and the GDT TLS slots come back by PTRACE_SET_THREAD_AREA.

import type { Arch, SigactionLayout, SyscallAbi, ThreadInfo } from '../types.js';
import type { ImageRecord, RegField } from '../regtable.js';
import { encodeTable, readField, writeField } from './byte-order.js';
import { ptrace } from '../../sys/index.js';
import { GP_REGS, GP_REGS_SIZE, NT_PRSTATUS, NT_X86_XSTATE } from './regs.js';
import { SYSCALL_BATCH_CODE, SYSCALL_BATCH_THEN_SIGRETURN, SYSCALL_INSN, syscallAbi } from './syscall-abi.js';
import { syscallsIa32 } from '../../sys/syscalls/ia32.js';
import { buildIa32Sigframe, NOT_RESTORED_BY_IA32_SIGRETURN } from './ia32-sigframe.js';
import { ia32Unsupported } from './ia32-probe.js';
import type { XsaveLayout } from './xsave.js';

const PTRACE_GETREGS = 12;
const PTRACE_SETREGS = 13;
/** __USER_CS and __USER_DS of x86_64 (ia32 code runs with __USER32_CS, 0x23). */
const USER_CS = 0x33n;
const USER_DS = 0x2bn;
const ARCH_MAP_VDSO_32 = 0x2002n;
/** TASK_SIZE of an ia32 task (IA32_PAGE_OFFSET): cryo's own areas in it stay below. */
export const IA32_TASK_SIZE = 0xffffe000n;

const reg = (name: string): RegField => GP_REGS.find((g) => g.name === name)!;

/** struct sigaction of the compat rt_sigaction: u32 handler, flags, restorer; the 64-bit mask. */
export const SIGACTION_IA32: SigactionLayout = { size: 20, handler: 0, flags: 4, restorer: 8, mask: 12, word: 4 };

/** The tracer's (64-bit) view of the registers, whatever mode the task is in. */
function getRegs(pid: number): Buffer {
  const b = Buffer.alloc(GP_REGS_SIZE);
  ptrace.ptrace(PTRACE_GETREGS, pid, 0, b, 'GETREGS');
  return b;
}

function setRegs(pid: number, regs: Buffer): void {
  ptrace.ptrace(PTRACE_SETREGS, pid, 0, regs, 'SETREGS');
}

/**
 * The batch runner of an ia32 task (SyscallAbi.batchCode, batchTaskCalls), run in 64-bit mode as
 * cryo's calls are: x86_64's (SYSCALL_BATCH_CODE), but an entry with bit 62 of its nr word runs
 * through the task's own entry, int $0x80 with an i386 number (as compat: rt_sigaction, robust
 * lists), its arguments in ebx, ecx, edx, esi, edi, ebp; assembled from:
 *   mov r12, rdi; mov r13, rsi
 *   loop: test r13, r13; jz done
 *         mov rax, [r12]; btr rax, 63; btr rax, 62; jc compat
 *         mov rdi, [r12+8]; mov rsi, [r12+16]; mov rdx, [r12+24]
 *         mov r10, [r12+32]; mov r8, [r12+40]; mov r9, [r12+48]
 *         syscall; jmp result
 *   compat: mov ebx, [r12+8]; mov ecx, [r12+16]; mov edx, [r12+24]
 *         mov esi, [r12+32]; mov edi, [r12+40]; mov ebp, [r12+48]
 *         int 0x80                            (its result sign-extended into rax)
 *   result: mov [r12+56], rax
 *         cmp rax, -4095; jb next
 *         bt qword [r12], 63; jnc done        (bit 63 of nr: go on after a failure)
 *   next: add r12, 64; dec r13; jmp loop
 *   done: int3
 */
export const IA32_BATCH_CODE = Buffer.from(
  '4989fc4989f54d85ed7470498b0424480fbaf03f480fbaf03e7222498b7c2408498b742410498b5424184d8b5424204d8b4424284d8b4c24300f05eb20'
  + '418b5c2408418b4c2410418b542418418b742420418b7c2428418b6c2430cd80'
  + '4989442438483d01f0ffff7208490fba24243f73094983c44049ffcdeb8bcc', 'hex');

/**
 * The compat rt_sigreturn (i386 number 173 through int $0x80, which 64-bit code may use too): it
 * takes the 32-bit frame at esp - 4 (buildIa32Sigframe) and puts the thread back in 32-bit mode
 * (the frame's cs), so cryo's 64-bit code can end in the thread's own ia32 state.
 */
const IA32_SIGRETURN = Buffer.from([0xb8, syscallsIa32.rt_sigreturn!, 0, 0, 0, 0xcd, 0x80]);

/** `syscall; mov $173,%eax; int $0x80`: one call in 64-bit mode, then the compat rt_sigreturn (Arch.callThenSigreturn). */
export const IA32_CALL_THEN_SIGRETURN = Buffer.concat([SYSCALL_INSN, IA32_SIGRETURN]);

/**
 * IA32_BATCH_CODE ending in the compat rt_sigreturn (SyscallAbi.batchThenSigreturn): x86_64's
 * parked ending (SYSCALL_BATCH_THEN_SIGRETURN: rdx holds the pollfd, kept in r14, which int $0x80
 * leaves alone; sendto, ppoll, close in 64-bit mode) with IA32_SIGRETURN in place of its rt_sigreturn.
 */
export const IA32_BATCH_THEN_SIGRETURN = ((): Buffer => {
  // x86_64's: its three movs (r12, r13, r14), its loop (SYSCALL_BATCH_CODE without those two movs and
  // the int3), the park's calls, then its rt_sigreturn (mov $15,%eax; syscall: 7 bytes).
  const x = SYSCALL_BATCH_THEN_SIGRETURN;
  const loopEnd = 9 + SYSCALL_BATCH_CODE.length - 7;
  return Buffer.concat([x.subarray(0, 9), IA32_BATCH_CODE.subarray(6, -1), x.subarray(loopEnd, -7), IA32_SIGRETURN]);
})();

/** cryo's calls in an ia32 task: the x86_64 ABI, with the task switched to 64-bit mode for each. */
export const IA32_INJECT_ABI: SyscallAbi = {
  ...syscallAbi,
  batchCode: IA32_BATCH_CODE,
  batchTaskCalls: true,
  batchThenSigreturn: IA32_BATCH_THEN_SIGRETURN,
  getRegs,
  setRegs,
  prepare(regs, ip, nr, args, sp) {
    const out = syscallAbi.prepare(regs, ip, nr, args, sp);
    writeField(out, reg('cs'), USER_CS);
    writeField(out, reg('ss'), USER_DS);
    return out;
  },
};

const INT80_ARGS = ['bx', 'cx', 'dx', 'si', 'di', 'bp'] as const;

/** The task's own entry: int 0x80 with i386 numbers, run from the same 64-bit register view. */
export const IA32_ENTRY_ABI: SyscallAbi = {
  instruction: Buffer.from([0xcd, 0x80]),
  regsNt: NT_PRSTATUS,
  rtSigreturnNr: syscallsIa32.rt_sigreturn!,
  cloneArgOrder: ['flags', 'stack', 'parentTid', 'tls', 'childTid'],
  numbers: syscallsIa32,
  getRegs,
  setRegs,
  prepare(regs, ip, nr, args, sp) {
    if (regs.length < GP_REGS_SIZE) throw new Error(`the 64-bit view of an ia32 task's registers is ${GP_REGS_SIZE} bytes, got ${regs.length}`);
    if (args.length > INT80_ARGS.length) throw new Error(`a syscall takes at most 6 arguments, got ${args.length}`);
    const out = Buffer.from(regs);
    writeField(out, reg('ax'), BigInt(nr));
    writeField(out, reg('orig_ax'), (1n << 64n) - 1n);
    args.forEach((a, i) => {
      const v = BigInt.asUintN(64, a);
      if (v >> 32n !== 0n && v >> 32n !== 0xffffffffn) throw new Error(`argument ${i + 1} of an ia32 syscall does not fit 32 bits: 0x${v.toString(16)}`);
      writeField(out, reg(INT80_ARGS[i]!), BigInt.asUintN(32, v));
    });
    writeField(out, reg('ip'), ip);
    if (sp !== undefined) writeField(out, reg('sp'), sp);
    return out;
  },
  mmapCall(addr, len, prot, flags, fd, offset) {
    return { name: 'mmap2', args: [addr, len, prot, flags, fd, offset / 4096n] };
  },
  sp(regs) {
    return readField(regs, reg('sp')) as bigint;
  },
  ip(regs) {
    return readField(regs, reg('ip')) as bigint;
  },
  result(regs) {
    return BigInt.asIntN(32, readField(regs, reg('ax')) as bigint);
  },
  ipAfter(ip) {
    return ip + 2n;
  },
};

/** The 64-bit register view of an ia32 image thread (what SETREGS takes; rt_sigreturn loads the rest). */
function regsFromCompat(gp: ImageRecord): Buffer {
  const b = Buffer.alloc(GP_REGS_SIZE);
  encodeTable(GP_REGS, gp, b, 0, 'gpregs');
  writeField(b, reg('orig_ax'), (1n << 64n) - 1n);
  // Null fs/gs selectors (and bases) before rt_sigreturn: it loads a selector from the frame only
  // when it differs from the current one, and only that load takes the base from the GDT.
  for (const r of ['fs', 'gs', 'fs_base', 'gs_base']) writeField(b, reg(r), 0n);
  return b;
}

/** The Arch of an ia32 task on this x86_64 machine (`native`: the machine's own). */
export function ia32Arch(native: Arch, xsaveLayout: () => XsaveLayout | undefined, probe?: () => string | undefined): Arch {
  const arch: Arch = {
    ...native,
    abi: 'ia32',
    wordSize: 4,
    redZone: 0,
    mmapTop: IA32_TASK_SIZE,
    syscall: IA32_INJECT_ABI,
    taskSyscall: IA32_ENTRY_ABI,
    sigaction: SIGACTION_IA32,
    robustList: 'task',
    cannotRun: probe ?? ia32Unsupported,
    regsetsFromThreadInfo(ti: ThreadInfo) {
      const out = native.regsetsFromThreadInfo(ti);
      out.set(NT_PRSTATUS, regsFromCompat(ti.gpregs as ImageRecord));
      out.delete(NT_X86_XSTATE); // the frame carries it
      return out;
    },
    buildSigframe(ti, opts) {
      const fp = ti.fpregs as ImageRecord | undefined;
      const layout = xsaveLayout();
      if (fp?.xsave !== undefined && layout === undefined) throw new Error('the xsave layout of this CPU is unknown: cannot build the ia32 signal frame');
      return buildIa32Sigframe(ti, opts, fp?.xsave !== undefined ? layout : undefined);
    },
    notRestoredBySigreturn: NOT_RESTORED_BY_IA32_SIGRETURN,
    // Its calls run in 64-bit mode and end in the compat rt_sigreturn onto a 32-bit frame (ia32 has no shadow stack).
    callThenSigreturn: () => IA32_CALL_THEN_SIGRETURN,
    // Not yet: x86_64's puts back 64-bit registers and jumps in 64-bit mode (no far jump to 32-bit code).
    callThenRestore: undefined,
    vdso: { areas: native.vdso.areas, vdso: native.vdso.vdso, map: { name: 'arch_prctl', args: (addr) => [ARCH_MAP_VDSO_32, addr] } },
  };
  return arch;
}
