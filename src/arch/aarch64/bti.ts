// Branch target identification (BTI, Armv8.5): in a page mapped with PROT_BTI an indirect branch must
// land on a `bti` instruction or the thread gets SIGILL. Loaders map the code of BTI-built objects so.
// /proc/PID/maps does not show the bit; smaps shows it as the VmFlag "bt" (arch/arm64 VM_ARM64_BTI).

import type { ProtVmFlag } from '../types.js';

/** mmap/mprotect: the pages are BTI-guarded (uapi asm/mman.h). */
export const PROT_BTI = 0x10;

export const btiSpec = (present: boolean): ProtVmFlag => ({
  vmFlag: 'bt', protBit: PROT_BTI, pages: 'BTI-guarded pages',
  feature: 'branch target identification (BTI)', featureName: 'HWCAP2_BTI', present,
});
