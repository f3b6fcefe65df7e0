// aarch64 thread state cryo cannot save yet, read at dump so that such a thread is refused in one
// line before anything is written (Arch.unsavableState), as x86's AMX tiles are. One row per regset.
//
// Facts from the kernel's uapi (linux/elf.h NT_ARM_FPMR 0x40e, NT_ARM_GCS 0x410; asm/ptrace.h
// struct user_gcs { features_enabled, features_locked, gcspr_el0 }) and linux/prctl.h
// (PR_SHADOW_STACK_ENABLE = bit 0). Kernels without the feature refuse the regset: nothing to check.

import type { MissingFeature, Regsets, RegsetSpec } from '../types.js';
import type { RegField } from '../regtable.js';
import { decodeTable } from './byte-order.js';

export const NT_ARM_FPMR = 0x40e;
export const NT_ARM_GCS = 0x410;
export const PR_SHADOW_STACK_ENABLE = 1n;

interface UnsavableRow {
  readonly spec: RegsetSpec;
  readonly feature: string;
  /** Why this regset's contents cannot be dumped, or undefined when they can. */
  readonly why: (buf: Buffer) => string | undefined;
}

/** struct user_gcs. */
export const USER_GCS: readonly RegField[] = [
  { name: 'features_enabled', offset: 0, image: 'u64' },
  { name: 'features_locked', offset: 8, image: 'u64' },
  { name: 'gcspr_el0', offset: 16, image: 'u64' },
];
export const FPMR: readonly RegField[] = [{ name: 'fpmr', offset: 0, image: 'u64' }];

const hex = (v: unknown): string => `0x${BigInt(v as bigint).toString(16)}`;

export const UNSAVABLE: readonly UnsavableRow[] = [
  {
    // A Guarded Control Stack: CRIU's image has no place for it, and rt_sigreturn (cryo's restore,
    // and the ending of its injected calls) checks a cap token the thread's GCS would not hold.
    spec: { nt: NT_ARM_GCS, name: 'NT_ARM_GCS', maxSize: 24, required: false },
    feature: 'the Guarded Control Stack (GCS)',
    why: (buf) => {
      const gcs = decodeTable(USER_GCS, buf);
      return (BigInt(gcs.features_enabled as bigint) & PR_SHADOW_STACK_ENABLE) !== 0n
        ? `the thread has a Guarded Control Stack enabled (GCSPR_EL0 ${hex(gcs.gcspr_el0)})` : undefined;
    },
  },
  {
    // FP8's mode register: 0 at exec, and only FP8 code sets it.
    spec: { nt: NT_ARM_FPMR, name: 'NT_ARM_FPMR', maxSize: 8, required: false },
    feature: 'the FP8 mode register (FPMR)',
    why: (buf) => {
      const { fpmr } = decodeTable(FPMR, buf);
      return BigInt(fpmr as bigint) !== 0n ? `the thread's FPMR is ${hex(fpmr)}` : undefined;
    },
  },
];

export function unsavableState(regsets: Regsets): MissingFeature[] {
  return UNSAVABLE.flatMap((row) => {
    const buf = regsets.get(row.spec.nt);
    const why = buf === undefined ? undefined : row.why(buf);
    return why === undefined ? [] : [{
      name: row.feature, bits: [],
      message: `${why}: cryo cannot save ${row.feature} yet, so it cannot dump this task while the thread uses it`,
    }];
  });
}
