// THE register description of aarch64: one table per ptrace regset, each row saying where a value
// lives in the kernel's buffer and which CRIU image field holds it. Dump (regset -> image), restore
// by ptrace (image -> regset) and the signal frame (image -> sigcontext) are all derived from these
// tables (DESIGN rule 1).
//
// Facts from the kernel's uapi asm/ptrace.h (struct user_pt_regs, struct user_fpsimd_state),
// arch/arm64/kernel/ptrace.c (NT_ARM_TLS: tpidr_el0, then tpidr2_el0 on CPUs with SME) and
// CRIU 4.2's images/core-aarch64.proto (thread_info_aarch64: tls = 2, gpregs = 3, fpsimd = 4).

import type { RegField } from '../regtable.js';

export const NT_PRSTATUS = 1;
export const NT_PRFPREG = 2;
export const NT_ARM_TLS = 0x401;

/** struct user_pt_regs = CRIU's user_aarch64_regs_entry: x0..x30, sp, pc, pstate. */
export const GP_REGS: readonly RegField[] = [
  { name: 'regs', offset: 0, image: 'u64', count: 31 },
  { name: 'sp', offset: 31 * 8, image: 'u64' },
  { name: 'pc', offset: 32 * 8, image: 'u64' },
  { name: 'pstate', offset: 33 * 8, image: 'u64' },
];
export const GP_REGS_SIZE = 34 * 8;

/**
 * struct user_fpsimd_state = CRIU's user_aarch64_fpsimd_context_entry: v0..v31 (128 bits each,
 * held as 64 doublewords in memory order), fpsr, fpcr, then 8 reserved bytes.
 */
export const FP_REGS: readonly RegField[] = [
  { name: 'vregs', offset: 0, image: 'u64', count: 64 },
  { name: 'fpsr', offset: 512, image: 'u32' },
  { name: 'fpcr', offset: 516, image: 'u32' },
];
export const FP_REGS_SIZE = 528;

/**
 * NT_ARM_TLS: tpidr_el0 = thread_info.tls. tpidr2_el0 (SME's, 8 more bytes) has no CRIU field;
 * cryo reads only the first word and restores it alone (the kernel then keeps tpidr2_el0).
 */
export const TLS_REGS: readonly RegField[] = [{ name: 'tls', offset: 0, image: 'u64' }];
export const TLS_SIZE = 8;
export const TLS_MAX_SIZE = 16;

/** Each regset as one row naming the thread_info field its table fills (tls sits in thread_info itself). */
export interface ArchRegset {
  readonly nt: number;
  readonly name: string;
  readonly field: 'gpregs' | 'fpsimd' | undefined;
  readonly table: readonly RegField[];
  readonly size: number;
  readonly maxSize: number;
}

export const REGSET_TABLES: readonly ArchRegset[] = [
  { nt: NT_PRSTATUS, name: 'NT_PRSTATUS', field: 'gpregs', table: GP_REGS, size: GP_REGS_SIZE, maxSize: GP_REGS_SIZE },
  { nt: NT_PRFPREG, name: 'NT_PRFPREG', field: 'fpsimd', table: FP_REGS, size: FP_REGS_SIZE, maxSize: FP_REGS_SIZE },
  { nt: NT_ARM_TLS, name: 'NT_ARM_TLS', field: undefined, table: TLS_REGS, size: TLS_SIZE, maxSize: TLS_MAX_SIZE },
];
