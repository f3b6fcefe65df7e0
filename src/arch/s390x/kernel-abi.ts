// s390x's kernel ABI numbers and layouts: asm-generic's (its uapi headers include the generic
// ioctls, termbits and socket numbers; struct epoll_event is naturally aligned, 16 bytes).

import type { KernelAbi } from '../types.js';
import { ASM_GENERIC } from '../asm-generic.js';

export const KERNEL_ABI: KernelAbi = ASM_GENERIC;

/** The s390x ELF ABI has no red zone: the 160-byte save area lies above the stack pointer. */
export const RED_ZONE = 0;

/** The kernel puts a signal frame on a doubleword (get_sigframe: & -8); cryo keeps it there too. */
export const SIGFRAME_ALIGN = 8;

/**
 * STACK_TOP of a 64-bit task (_REGION2_SIZE, 4 TiB): mmap hands out addresses below it unless asked
 * for more (the kernel then adds a page-table level). Cryo's own areas go below it.
 */
export const MMAP_TOP = 1n << 42n;
/** MMAP_ALIGN_MASK (0x7f pages): shared mappings of a task with PF_RANDOMIZE start at 512 KiB boundaries. */
export const SHARED_MMAP_ALIGN = 0x80000;
