// The kernel's asm-generic user ABI (include/uapi/asm-generic/*.h) as data: the numbers and
// layouts most architectures share. x86_64, aarch64 and s390x use them nearly unchanged; ppc64
// changes the tty ioctls, termios and some SO_* numbers; aarch64 and ppc64 move O_DIRECT and
// O_DIRECTORY; ppc64 moves MAP_LOCKED and MAP_NORESERVE. An architecture's kernelAbi spreads this and overrides what its headers change.

import type { KernelAbi, SigactionLayout } from './types.js';

export const ASM_GENERIC: KernelAbi = {
  layouts: {
    // struct epoll_event { __u32 events; __u64 data; } with natural alignment.
    epollEvent: { size: 16, events: 0, data: 8 },
    // struct termios { 4 x tcflag_t; cc_t c_line; cc_t c_cc[19]; }
    termios: { size: 36, iflag: 0, oflag: 4, cflag: 8, lflag: 12, line: 16, cc: 17, nccs: 19 },
  },
  ioctls: {
    TCGETS: 0x5401, TCSETS: 0x5402, TIOCEXCL: 0x540c, TIOCSCTTY: 0x540e, TIOCGPGRP: 0x540f, TIOCSPGRP: 0x5410,
    TIOCOUTQ: 0x5411, TIOCGWINSZ: 0x5413, TIOCSWINSZ: 0x5414, FIONREAD: 0x541b, TIOCPKT: 0x5420, TIOCGSID: 0x5429,
    TIOCGLCKTRMIOS: 0x5456, TIOCSLCKTRMIOS: 0x5457,
    // _IOR/_IOW('T', ...) with the generic direction bits (read 0x80000000, write 0x40000000).
    TIOCGPTN: 0x80045430, TIOCSPTLCK: 0x40045431, TIOCGPKT: 0x80045438, TIOCGPTLCK: 0x80045439, TIOCGEXCL: 0x80045440,
    // _IOW('T', 0, __u64) and _IOW('I', 0, __s32).
    TFD_IOC_SET_TICKS: 0x40085400, INOTIFY_IOC_SETNEXTWD: 0x40044900,
  },
  solSocket: 1,
  socketOptions: {
    REUSEADDR: 2, TYPE: 3, DONTROUTE: 5, BROADCAST: 6, SNDBUF: 7, RCVBUF: 8, KEEPALIVE: 9, OOBINLINE: 10,
    NO_CHECK: 11, PRIORITY: 12, LINGER: 13, REUSEPORT: 15, PASSCRED: 16, PEERCRED: 17, RCVLOWAT: 18,
    // SO_RCVTIMEO_OLD / SO_SNDTIMEO_OLD: the 64-bit ABIs' struct timeval versions.
    RCVTIMEO: 20, SNDTIMEO: 21, BINDTODEVICE: 25, GET_FILTER: 26, SNDBUFFORCE: 32, RCVBUFFORCE: 33,
    PASSSEC: 34, MARK: 36, PROTOCOL: 38, DOMAIN: 39, PEEK_OFF: 42, BUF_LOCK: 72,
  },
  openFlags: { O_DIRECT: 0o40000, O_DIRECTORY: 0o200000, O_NOFOLLOW: 0o400000 },
  mman: {
    PROT_READ: 0x1, PROT_WRITE: 0x2, PROT_EXEC: 0x4,
    MAP_SHARED: 0x01, MAP_PRIVATE: 0x02, MAP_DROPPABLE: 0x08, MAP_FIXED: 0x10, MAP_ANONYMOUS: 0x20,
    MAP_GROWSDOWN: 0x100, MAP_LOCKED: 0x2000, MAP_NORESERVE: 0x4000, MAP_HUGETLB: 0x40000, MAP_FIXED_NOREPLACE: 0x100000,
    MAP_POPULATE: 0x8000, MADV_RANDOM: 1, MADV_SEQUENTIAL: 2, MADV_DONTNEED: 4, MADV_DONTFORK: 10,
    MADV_MERGEABLE: 12, MADV_HUGEPAGE: 14, MADV_NOHUGEPAGE: 15, MADV_DONTDUMP: 16, MADV_WIPEONFORK: 18, MADV_GUARD_INSTALL: 102,
  },
};

/** struct sigaction of the 64-bit rt_sigaction on every LP64 Linux ABI: handler, flags, restorer, mask, 8 bytes each. */
export const SIGACTION_LP64: SigactionLayout = { size: 32, handler: 0, flags: 8, restorer: 16, mask: 24, word: 8 };
