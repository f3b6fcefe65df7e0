/**
 * x86 CPU identification (cpuid, xgetbv), needed for CPU-feature and xsave checks. The addon
 * only has them on x86_64; elsewhere hostCpuid() returns undefined, so callers branch on data,
 * not on the architecture's name.
 */
import { native } from './native.js';

export interface CpuidRegs {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

export interface HostCpuid {
  /** cpuid(leaf, subleaf) on the CPU this thread runs on. */
  cpuid(leaf: number, subleaf?: number): CpuidRegs;
  /** xgetbv(index): XCR0 (the enabled xsave features) for index 0. Throws when the OS has not enabled XSAVE. */
  xgetbv(index?: number): bigint;
}

/** cpuid/xgetbv where the host has them (x86_64), undefined elsewhere. */
export function hostCpuid(): HostCpuid | undefined {
  const n = native();
  const cpuid = n.cpuid;
  const xgetbv = n.xgetbv;
  if (!cpuid || !xgetbv) return undefined;
  return {
    cpuid(leaf, subleaf = 0) {
      const [eax, ebx, ecx, edx] = cpuid(leaf >>> 0, subleaf >>> 0);
      return { eax, ebx, ecx, edx };
    },
    xgetbv(index = 0) {
      return xgetbv(index >>> 0);
    },
  };
}
