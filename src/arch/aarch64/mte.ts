// Memory tagging (MTE, Armv8.5): every 16 bytes of a PROT_MTE mapping carry a 4-bit allocation tag
// that loads and stores through a pointer with a different top-byte tag fault on (SIGSEGV,
// SEGV_MTESERR in the synchronous mode). The tags are not in the pages: ptrace reads and writes
// them one byte per granule (arch/arm64/kernel/mte.c). The thread's tag-check mode and the tags
// it may generate are its tagged-address control (prctl PR_SET_TAGGED_ADDR_CTRL), the regset
// NT_ARM_TAGGED_ADDR_CTRL. CRIU has a field for neither: cryo-mtags-PID.img, cryo-core-TID.img.

import type { MemoryTagSpec } from '../types.js';
import type { RegField } from '../regtable.js';

/** arm64's own ptrace requests (arch/arm64/include/uapi/asm/ptrace.h). */
export const PTRACE_PEEKMTETAGS = 33;
export const PTRACE_POKEMTETAGS = 34;
/** mmap/mprotect: the mapping has allocation tags (uapi asm/mman.h). */
export const PROT_MTE = 0x20;
export const MTE_GRANULE = 16;

export const NT_ARM_TAGGED_ADDR_CTRL = 0x409;
/** One long: PR_TAGGED_ADDR_ENABLE (bit 0), PR_MTE_TCF_* (bits 1-2), PR_MTE_TAG mask (bits 3-18). */
export const TAGGED_ADDR_CTRL: readonly RegField[] = [{ name: 'tagged_addr_ctrl', offset: 0, image: 'u64' }];
/** The tag-check-fault bits: a thread with either set has MTE checks on. */
export const PR_MTE_TCF_MASK = 3n << 1n;

export const mteSpec = (present: boolean): MemoryTagSpec => ({
  vmFlag: 'mt', protBit: PROT_MTE, granule: MTE_GRANULE,
  peekRequest: PTRACE_PEEKMTETAGS, pokeRequest: PTRACE_POKEMTETAGS,
  feature: 'memory tagging (MTE)', present,
});
