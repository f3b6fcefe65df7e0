// ppc64's kernel ABI numbers and layouts where its uapi headers differ from asm-generic's
// (asm/ioctls.h, asm/termbits.h, asm/socket.h, asm/fcntl.h), and the ELFv2 ABI's stack facts.

import type { KernelAbi } from '../types.js';
import { ASM_GENERIC } from '../asm-generic.js';

/** _IOC on ppc64: 3 direction bits at 29..31 (read 2, write 4), 13 size bits at 16..28. */
const ioc = (dir: number, type: string, nr: number, size: number): number =>
  ((dir << 29) | (size << 16) | (type.charCodeAt(0) << 8) | nr) >>> 0;
const IOR = (t: string, nr: number, size: number) => ioc(2, t, nr, size);
const IOW = (t: string, nr: number, size: number) => ioc(4, t, nr, size);

/** The kernel's struct termios on ppc64 (asm/termbits.h): c_cc comes before c_line, speeds follow. */
const TERMIOS_SIZE = 44;

export const KERNEL_ABI: KernelAbi = {
  ...ASM_GENERIC,
  layouts: {
    ...ASM_GENERIC.layouts,
    termios: { size: TERMIOS_SIZE, iflag: 0, oflag: 4, cflag: 8, lflag: 12, cc: 16, nccs: 19, line: 35 },
  },
  ioctls: {
    ...ASM_GENERIC.ioctls,
    TCGETS: IOR('t', 19, TERMIOS_SIZE),
    TCSETS: IOW('t', 20, TERMIOS_SIZE),
    TIOCGPGRP: IOR('t', 119, 4),
    TIOCSPGRP: IOW('t', 118, 4),
    TIOCOUTQ: IOR('t', 115, 4),
    TIOCGWINSZ: IOR('t', 104, 8),
    TIOCSWINSZ: IOW('t', 103, 8),
    FIONREAD: IOR('f', 127, 4),
    TIOCGPTN: IOR('T', 0x30, 4),
    TIOCSPTLCK: IOW('T', 0x31, 4),
    TIOCGPKT: IOR('T', 0x38, 4),
    TIOCGPTLCK: IOR('T', 0x39, 4),
    TIOCGEXCL: IOR('T', 0x40, 4),
    TFD_IOC_SET_TICKS: IOW('T', 0, 8),
    INOTIFY_IOC_SETNEXTWD: IOW('I', 0, 4),
  },
  socketOptions: {
    ...ASM_GENERIC.socketOptions,
    RCVLOWAT: 16, RCVTIMEO: 18, SNDTIMEO: 19, PASSCRED: 20, PEERCRED: 21,
  },
  openFlags: { O_DIRECT: 0o400000, O_DIRECTORY: 0o40000, O_NOFOLLOW: 0o100000 },
  // asm/mman.h numbers MAP_NORESERVE and MAP_LOCKED its own way.
  mman: { ...ASM_GENERIC.mman, MAP_NORESERVE: 0x40, MAP_LOCKED: 0x80 },
};

/**
 * Bytes below r1 that code may use without moving it: 512 in the ELFv2 ABI of ppc64le (the old
 * big-endian ELFv1 ABI said 288); the kernel leaves 512 too (USER_REDZONE_SIZE) when it builds
 * a signal frame.
 */
export const RED_ZONE = 512;

/** The kernel aligns a signal frame to 16 bytes (get_sigframe); the vector registers need no more. */
export const SIGFRAME_ALIGN = 16;

/**
 * The user address space by page size (asm/task_size_64.h): with 64 KiB pages mmap hands out up to
 * DEFAULT_MAP_WINDOW, 128 TiB, unless a task asks for more, up to TASK_SIZE, 4 PiB; with 4 KiB
 * pages both are 64 TiB (Debian's ppc64el: 6.1 has 64 KiB pages, 6.12 4 KiB unless its -64k flavour).
 */
export function addressSpace(pageSize: number): { mmapTop: bigint; userTop: bigint } {
  return pageSize >= 65536 ? { mmapTop: 1n << 47n, userTop: 1n << 52n } : { mmapTop: 1n << 46n, userTop: 1n << 46n };
}
