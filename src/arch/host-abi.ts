// The kernel ABI numbers of the machine cryo runs on, for code that calls the kernel for cryo
// itself. Only each architecture's kernel-abi.ts (plain data) loads here, never its whole module,
// so constants modules can read it when they load.

import type { KernelAbi } from './types.js';
import { ASM_GENERIC } from './asm-generic.js';
import { KERNEL_ABI as X86_64 } from './x86_64/kernel-abi.js';
import { KERNEL_ABI as PPC64 } from './ppc64/kernel-abi.js';
import { KERNEL_ABI as S390X } from './s390x/kernel-abi.js';
import { KERNEL_ABI as AARCH64 } from './aarch64/kernel-abi.js';

/** process.arch -> that architecture's kernel ABI (the same object its ArchFactory gives). */
export const KERNEL_ABIS: Readonly<Record<string, KernelAbi>> = {
  x64: X86_64,
  ppc64: PPC64,
  s390x: S390X,
  arm64: AARCH64,
};

/**
 * This machine's kernel ABI. On an architecture cryo does not support it gives asm-generic's:
 * nothing can be dumped or restored there (archFor refuses), but image tools still load.
 */
export function hostKernelAbi(): KernelAbi {
  return KERNEL_ABIS[process.arch] ?? ASM_GENERIC;
}
