// aarch64's kernel ABI numbers where its uapi headers differ from asm-generic's (asm/fcntl.h moves
// O_DIRECTORY/O_NOFOLLOW/O_DIRECT), and the AAPCS64 stack facts.

import type { KernelAbi } from '../types.js';
import { ASM_GENERIC } from '../asm-generic.js';

export const KERNEL_ABI: KernelAbi = {
  ...ASM_GENERIC,
  openFlags: { O_DIRECT: 0o200000, O_DIRECTORY: 0o40000, O_NOFOLLOW: 0o100000 },
};

/** AAPCS64 has no red zone: nothing below sp is live. */
export const RED_ZONE = 0;

/** The kernel aligns a signal frame to 16 bytes (get_sigframe); sp must stay 16-aligned. */
export const SIGFRAME_ALIGN = 16;

/** DEFAULT_MAP_WINDOW with 48-bit (and 52-bit) virtual addresses: mmap stays below 256 TiB without a hint above. */
export const MMAP_TOP = 1n << 48n;
