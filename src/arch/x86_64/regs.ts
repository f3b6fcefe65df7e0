// THE register description of x86_64: every register the kernel hands out
// through ptrace regsets, where it lives in the regset, where it lives in a
// signal frame, and which CRIU image field holds it. Dump, restore by ptrace
// and restore by signal frame are all derived from these tables (DESIGN
// rule 1); nothing else in cryo spells out an x86 register offset.
//
// Sources of the facts: the kernel's struct user_regs_struct (asm/user_64.h),
// struct user_regs_struct32, struct fxregs_state and struct xregs_state
// (asm/fpu/types.h), struct sigcontext_64 (uapi asm/sigcontext.h), the SDM's
// XSAVE chapter (component numbers), CRIU's images/core-x86.proto (names).

import type { RawWord, RegField } from '../regtable.js';

export const NT_PRSTATUS = 1;
export const NT_PRFPREG = 2;
export const NT_X86_XSTATE = 0x202;
export const NT_X86_SHSTK = 0x204;

/** A general register: its place in user_regs_struct and, when rt_sigreturn restores it, in sigcontext_64. */
export interface GpReg extends RegField {
  readonly sigcontext?: { readonly offset: number; readonly raw: RawWord };
}

const u64 = (name: string, offset: number, sc?: [number, RawWord]): GpReg => ({
  name,
  offset,
  image: 'u64',
  ...(sc ? { sigcontext: { offset: sc[0], raw: sc[1] } } : {}),
});

/**
 * struct user_regs_struct (NT_PRSTATUS of a 64-bit task, 27 x u64 = 216 bytes)
 * = CRIU's user_x86_regs_entry. The sigcontext column is struct sigcontext_64;
 * fs/gs selectors there are ignored by the 64-bit rt_sigreturn, and orig_ax,
 * fs_base, gs_base, ds, es have no place in it at all.
 */
export const GP_REGS: readonly GpReg[] = [
  u64('r15', 0, [56, 'u64']),
  u64('r14', 8, [48, 'u64']),
  u64('r13', 16, [40, 'u64']),
  u64('r12', 24, [32, 'u64']),
  u64('bp', 32, [80, 'u64']),
  u64('bx', 40, [88, 'u64']),
  u64('r11', 48, [24, 'u64']),
  u64('r10', 56, [16, 'u64']),
  u64('r9', 64, [8, 'u64']),
  u64('r8', 72, [0, 'u64']),
  u64('ax', 80, [104, 'u64']),
  u64('cx', 88, [112, 'u64']),
  u64('dx', 96, [96, 'u64']),
  u64('si', 104, [72, 'u64']),
  u64('di', 112, [64, 'u64']),
  u64('orig_ax', 120),
  u64('ip', 128, [128, 'u64']),
  u64('cs', 136, [144, 'u16']),
  u64('flags', 144, [136, 'u64']),
  u64('sp', 152, [120, 'u64']),
  u64('ss', 160, [150, 'u16']),
  u64('fs_base', 168),
  u64('gs_base', 176),
  u64('ds', 184),
  u64('es', 192),
  u64('fs', 200, [148, 'u16']),
  u64('gs', 208, [146, 'u16']),
];
export const GP_REGS_SIZE = 216;

/**
 * struct user_regs_struct32 (NT_PRSTATUS of an ia32 task, 17 x u32 = 68 bytes),
 * stored in the same image message with mode = COMPAT; the 64-bit-only
 * registers are 0 in the image.
 */
export const GP_REGS_COMPAT: readonly RegField[] = [
  'bx', 'cx', 'dx', 'si', 'di', 'bp', 'ax', 'ds', 'es', 'fs', 'gs', 'orig_ax', 'ip', 'cs', 'flags', 'sp', 'ss',
].map((name, i) => ({ name, offset: i * 4, image: 'u64', raw: 'u32' }));
export const GP_REGS_COMPAT_SIZE = 68;

/** CRIU's user_x86_regs_mode values (the image codec carries enums by name). */
export const REGS_MODE = { NATIVE: 'NATIVE', COMPAT: 'COMPAT' } as const;

/**
 * The legacy region of the xsave area = struct fxregs_state (NT_PRFPREG,
 * 512 bytes) = the scalar and array fields of CRIU's user_x86_fpregs_entry.
 * Bytes 416..463 are unused, 464..511 (sw_reserved) are the kernel's
 * xstate_fx_sw_bytes, see SW_BYTES.
 */
export const FXSAVE_FIELDS: readonly RegField[] = [
  { name: 'cwd', offset: 0, image: 'u32', raw: 'u16' },
  { name: 'swd', offset: 2, image: 'u32', raw: 'u16' },
  { name: 'twd', offset: 4, image: 'u32', raw: 'u16' },
  { name: 'fop', offset: 6, image: 'u32', raw: 'u16' },
  { name: 'rip', offset: 8, image: 'u64' },
  { name: 'rdp', offset: 16, image: 'u64' },
  { name: 'mxcsr', offset: 24, image: 'u32' },
  { name: 'mxcsr_mask', offset: 28, image: 'u32' },
  { name: 'st_space', offset: 32, image: 'u32', count: 32 },
  { name: 'xmm_space', offset: 160, image: 'u32', count: 64 },
];
export const FXSAVE_SIZE = 512;

/**
 * What the kernel puts in sw_reserved of the NT_X86_XSTATE regset
 * (xstate_fx_sw_bytes): word 0 is the task's xfeatures (XCR0), the rest zero.
 */
export const REGSET_SW_XFEATURES: RegField = { name: 'xfeatures', offset: 464, image: 'u64' };

/** struct _fpx_sw_bytes in a signal frame's sw_reserved: how the kernel describes the frame's xsave area. */
export const SW_BYTES = {
  offset: 464,
  fields: [
    { name: 'magic1', offset: 0, image: 'u32' },
    { name: 'extended_size', offset: 4, image: 'u32' },
    { name: 'xfeatures', offset: 8, image: 'u64' },
    { name: 'xstate_size', offset: 16, image: 'u32' },
  ] as readonly RegField[],
} as const;
export const FP_XSTATE_MAGIC1 = 0x46505853;
export const FP_XSTATE_MAGIC2 = 0x46505845;

/** The xsave header (struct xstate_header) right after the legacy region. */
export const XSAVE_HEADER_OFFSET = 512;
export const XSAVE_HEADER_SIZE = 64;
export const XSAVE_HEADER: readonly RegField[] = [{ name: 'xstate_bv', offset: 512, image: 'u64' }];
/** xcomp_bv: must be 0 (standard format) in everything cryo hands to the kernel. */
export const XCOMP_BV_OFFSET = 520;

/**
 * Every xsave state component the SDM defines up to today, by feature bit.
 * `field` is its user_x86_xsave_entry field when CRIU's image can hold it
 * (elements of `image` type, `count` of them covering the whole component);
 * `defaultOffset` is the standard-format offset that Intel CPUs report and that
 * cryo uses when it cannot ask CPUID (CPUID leaf 0xD is authoritative: AMD
 * CPUs without MPX place AVX-512 and PKRU elsewhere).
 */
export interface XsaveComponent {
  readonly bit: number;
  readonly name: string;
  /** The feature a user knows it by; components of one feature share it. */
  readonly feature: string;
  readonly size: number;
  readonly supervisor: boolean;
  readonly defaultOffset?: number;
  readonly field?: { readonly name: string; readonly image: 'u32' | 'u64'; readonly count: number };
}

export const XSAVE_COMPONENTS: readonly XsaveComponent[] = [
  { bit: 0, name: 'x87', feature: 'x87 FPU', size: 160, supervisor: false, defaultOffset: 0 },
  { bit: 1, name: 'SSE', feature: 'SSE', size: 256, supervisor: false, defaultOffset: 160 },
  { bit: 2, name: 'AVX (YMM_Hi128)', feature: 'AVX', size: 256, supervisor: false, defaultOffset: 576,
    field: { name: 'ymmh_space', image: 'u32', count: 64 } },
  { bit: 3, name: 'MPX bndregs', feature: 'MPX', size: 64, supervisor: false, defaultOffset: 960,
    field: { name: 'bndreg_state', image: 'u64', count: 8 } },
  { bit: 4, name: 'MPX bndcsr', feature: 'MPX', size: 64, supervisor: false, defaultOffset: 1024,
    field: { name: 'bndcsr_state', image: 'u64', count: 8 } },
  { bit: 5, name: 'AVX-512 opmask', feature: 'AVX-512', size: 64, supervisor: false, defaultOffset: 1088,
    field: { name: 'opmask_reg', image: 'u64', count: 8 } },
  { bit: 6, name: 'AVX-512 ZMM_Hi256', feature: 'AVX-512', size: 512, supervisor: false, defaultOffset: 1152,
    field: { name: 'zmm_upper', image: 'u64', count: 64 } },
  { bit: 7, name: 'AVX-512 Hi16_ZMM', feature: 'AVX-512', size: 1024, supervisor: false, defaultOffset: 1664,
    field: { name: 'hi16_zmm', image: 'u64', count: 128 } },
  { bit: 8, name: 'PT', feature: 'Processor Trace', size: 128, supervisor: true },
  { bit: 9, name: 'PKRU', feature: 'protection keys (PKRU)', size: 8, supervisor: false, defaultOffset: 2688,
    field: { name: 'pkru', image: 'u32', count: 2 } },
  { bit: 10, name: 'PASID', feature: 'PASID', size: 8, supervisor: true },
  { bit: 11, name: 'CET user', feature: 'CET user (shadow stack)', size: 16, supervisor: true },
  { bit: 12, name: 'CET supervisor', feature: 'CET supervisor', size: 24, supervisor: true },
  { bit: 13, name: 'HDC', feature: 'HDC', size: 8, supervisor: true },
  { bit: 14, name: 'UINTR', feature: 'user interrupts (UINTR)', size: 48, supervisor: true },
  { bit: 15, name: 'LBR', feature: 'arch LBR', size: 808, supervisor: true },
  { bit: 16, name: 'HWP', feature: 'HWP', size: 8, supervisor: true },
  { bit: 17, name: 'AMX TILECFG', feature: 'AMX', size: 64, supervisor: false, defaultOffset: 2752 },
  { bit: 18, name: 'AMX TILEDATA', feature: 'AMX', size: 8192, supervisor: false, defaultOffset: 2816 },
  { bit: 19, name: 'APX extended GPRs', feature: 'APX', size: 128, supervisor: false },
];

/** x87 and SSE live in the legacy region; the kernel always keeps both in a signal frame's xstate_bv. */
export const XFEATURE_MASK_FPSSE = 0b11n;

/** user_x86_cet_entry: from arch_prctl(ARCH_SHSTK_STATUS) and the NT_X86_SHSTK regset (the ssp). */
export const SHSTK_SSP: RegField = { name: 'ssp', offset: 0, image: 'u64' };
export const SHSTK_REGSET_SIZE = 8;
export const ARCH_SHSTK_SHSTK = 1n;
