// x86_64's kernel ABI numbers and layouts: asm-generic's, except that struct epoll_event is
// packed (the kernel declares it __attribute__((packed)) on x86_64 only).

import type { KernelAbi } from '../types.js';
import { ASM_GENERIC } from '../asm-generic.js';

export const KERNEL_ABI: KernelAbi = {
  ...ASM_GENERIC,
  layouts: { ...ASM_GENERIC.layouts, epollEvent: { size: 12, events: 0, data: 4 } },
};

/** The System V x86_64 psABI red zone below SP. */
export const RED_ZONE = 128;

/** DEFAULT_MAP_WINDOW: 47 bits of user address space unless a task asks for more (5-level paging). */
export const MMAP_TOP = 1n << 47n;
