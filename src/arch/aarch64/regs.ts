// THE register description of aarch64: one table per ptrace regset, each row saying where a value
// lives in the kernel's buffer and which CRIU image field holds it. Dump (regset -> image), restore
// by ptrace (image -> regset) and the signal frame (image -> sigcontext) are all derived from these
// tables (DESIGN rule 1).
//
// Facts from the kernel's uapi asm/ptrace.h (struct user_pt_regs, struct user_fpsimd_state),
// arch/arm64/kernel/ptrace.c (NT_ARM_TLS: tpidr_el0, then tpidr2_el0 on CPUs with SME) and
// CRIU 4.2's images/core-aarch64.proto (thread_info_aarch64: tls = 2, gpregs = 3, fpsimd = 4).

import type { RegField } from '../regtable.js';
import { NT_ARM_TAGGED_ADDR_CTRL, TAGGED_ADDR_CTRL } from './mte.js';

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
 * NT_ARM_TLS: tpidr_el0 = thread_info.tls. tpidr2_el0 (SME's, 8 more bytes on kernels with SME)
 * has no CRIU field: thread_info.tpidr2 in cryo-core-TID.img, kept only when not 0 (a kernel
 * without SME has no second word, and takes a 16-byte write as its first 8).
 */
export const TLS_REGS: readonly RegField[] = [{ name: 'tls', offset: 0, image: 'u64' }];
export const TPIDR2_REGS: readonly RegField[] = [{ name: 'tpidr2', offset: 8, image: 'u64' }];
export const TLS_SIZE = 8;
export const TLS_MAX_SIZE = 16;

/**
 * NT_ARM_PACA_KEYS: struct user_pac_address_keys, four 128-bit keys (low doubleword first) =
 * CRIU's pac_address_keys. The kernel picks new keys at exec: without the dumped ones a restored
 * task's signed return addresses (PACIASP in any code built with branch protection) no longer
 * authenticate.
 */
export const NT_ARM_PACA_KEYS = 0x407;
export const NT_ARM_PACG_KEYS = 0x408;
/** NT_ARM_PAC_ENABLED_KEYS: one long, the PR_PAC_AP*KEY bits of the keys in use. */
export const NT_ARM_PAC_ENABLED_KEYS = 0x40a;

const key = (name: string, index: number): RegField[] => [
  { name: `${name}_lo`, offset: index * 16, image: 'u64' },
  { name: `${name}_hi`, offset: index * 16 + 8, image: 'u64' },
];
export const PACA_KEYS: readonly RegField[] = ['apiakey', 'apibkey', 'apdakey', 'apdbkey'].flatMap((k, i) => key(k, i));
export const PACG_KEYS: readonly RegField[] = key('apgakey', 0);
export const PAC_ENABLED_KEYS: readonly RegField[] = [{ name: 'pac_enabled_key', offset: 0, image: 'u64' }];

/** Each regset as one row naming the thread_info record its table fills (a path; [] = thread_info itself). */
export interface ArchRegset {
  readonly nt: number;
  readonly name: string;
  readonly path: readonly string[];
  readonly table: readonly RegField[];
  readonly size: number;
  readonly maxSize: number;
  /** Absent on CPUs or kernels without the feature: dump skips it, restore skips an image without it. */
  readonly required: boolean;
}

const PAC_ADDRESS = ['pac_keys', 'pac_address_keys'];
export const REGSET_TABLES: readonly ArchRegset[] = [
  { nt: NT_PRSTATUS, name: 'NT_PRSTATUS', path: ['gpregs'], table: GP_REGS, size: GP_REGS_SIZE, maxSize: GP_REGS_SIZE, required: true },
  { nt: NT_PRFPREG, name: 'NT_PRFPREG', path: ['fpsimd'], table: FP_REGS, size: FP_REGS_SIZE, maxSize: FP_REGS_SIZE, required: true },
  { nt: NT_ARM_TLS, name: 'NT_ARM_TLS', path: [], table: TLS_REGS, size: TLS_SIZE, maxSize: TLS_MAX_SIZE, required: true },
  { nt: NT_ARM_PACA_KEYS, name: 'NT_ARM_PACA_KEYS', path: PAC_ADDRESS, table: PACA_KEYS, size: 64, maxSize: 64, required: false },
  { nt: NT_ARM_PAC_ENABLED_KEYS, name: 'NT_ARM_PAC_ENABLED_KEYS', path: PAC_ADDRESS, table: PAC_ENABLED_KEYS, size: 8, maxSize: 8, required: false },
  { nt: NT_ARM_PACG_KEYS, name: 'NT_ARM_PACG_KEYS', path: ['pac_keys', 'pac_generic_keys'], table: PACG_KEYS, size: 16, maxSize: 16, required: false },
  // No CRIU field: cryo-core-TID.img (src/images/cryo-core.ts).
  { nt: NT_ARM_TAGGED_ADDR_CTRL, name: 'NT_ARM_TAGGED_ADDR_CTRL', path: [], table: TAGGED_ADDR_CTRL, size: 8, maxSize: 8, required: false },
];
