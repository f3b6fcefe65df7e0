// Kernel user-ABI numbers and struct layouts that differ between architectures (the data an
// Arch's KernelAbi and syscall ABIs hold). Re-exported by ./types.js.

/** struct sigaction as rt_sigaction takes it in one ABI: byte offsets and the width of each word. */
export interface SigactionLayout {
  readonly size: number;
  readonly handler: number;
  readonly flags: number;
  readonly restorer: number;
  readonly mask: number;
  /** Bytes of handler, flags and restorer (the mask is always 8). */
  readonly word: 4 | 8;
}

/** Byte offsets in a kernel struct whose layout differs between architectures. */
export interface EpollEventLayout {
  /** sizeof(struct epoll_event): packed (12) on x86_64, padded (16) elsewhere. */
  readonly size: number;
  readonly events: number;
  readonly data: number;
}

/** struct termios as TCGETS/TCSETS pass it (speeds, where the struct has them, are left 0). */
export interface TermiosLayout {
  readonly size: number;
  readonly iflag: number;
  readonly oflag: number;
  readonly cflag: number;
  readonly lflag: number;
  readonly line: number;
  /** Offset of c_cc[] and its length (NCCS). */
  readonly cc: number;
  readonly nccs: number;
}

/** The ioctls cryo issues whose numbers differ between architectures (ppc64 has its own). */
export type IoctlName =
  | 'TCGETS' | 'TCSETS' | 'TIOCEXCL' | 'TIOCSCTTY' | 'TIOCGPGRP' | 'TIOCSPGRP' | 'TIOCOUTQ' | 'TIOCGWINSZ'
  | 'TIOCSWINSZ' | 'FIONREAD' | 'TIOCPKT' | 'TIOCGSID' | 'TIOCGLCKTRMIOS' | 'TIOCSLCKTRMIOS' | 'TIOCGPTN'
  | 'TIOCSPTLCK' | 'TIOCGPKT' | 'TIOCGPTLCK' | 'TIOCGEXCL'
  // _IOW numbers outside the tty set: the direction bits differ too (ppc64: write is 4 << 29).
  | 'TFD_IOC_SET_TICKS' | 'INOTIFY_IOC_SETNEXTWD';

/** SOL_SOCKET option names cryo reads or sets (the SO_ prefix left out); ppc64 numbers some differently. */
export type SocketOptionName =
  | 'REUSEADDR' | 'TYPE' | 'DONTROUTE' | 'BROADCAST' | 'SNDBUF' | 'RCVBUF' | 'KEEPALIVE' | 'OOBINLINE' | 'NO_CHECK'
  | 'PRIORITY' | 'LINGER' | 'REUSEPORT' | 'PASSCRED' | 'PEERCRED' | 'RCVLOWAT' | 'RCVTIMEO' | 'SNDTIMEO' | 'BINDTODEVICE'
  | 'GET_FILTER' | 'SNDBUFFORCE' | 'RCVBUFFORCE' | 'PASSSEC' | 'MARK' | 'PROTOCOL' | 'DOMAIN' | 'PEEK_OFF'
  | 'BUF_LOCK';

/** open(2) flags whose values differ between architectures (aarch64 and ppc64 move these). */
export interface OpenFlags {
  readonly O_DIRECT: number;
  readonly O_DIRECTORY: number;
  readonly O_NOFOLLOW: number;
}

/**
 * mmap(2)/mprotect(2)/madvise(2) numbers (include/uapi/asm-generic/mman*.h; ppc64 moves MAP_LOCKED
 * and MAP_NORESERVE; the MADV_* differ only on alpha, mips and parisc, none of them cryo's).
 */
export interface MmanFlags {
  readonly PROT_READ: number;
  readonly PROT_WRITE: number;
  readonly PROT_EXEC: number;
  readonly MAP_SHARED: number;
  readonly MAP_PRIVATE: number;
  /** Linux 6.11's MAP_DROPPABLE, a mapping type like MAP_SHARED/MAP_PRIVATE. */
  readonly MAP_DROPPABLE: number;
  readonly MAP_FIXED: number;
  readonly MAP_ANONYMOUS: number;
  readonly MAP_GROWSDOWN: number;
  readonly MAP_LOCKED: number;
  readonly MAP_NORESERVE: number;
  readonly MAP_HUGETLB: number;
  readonly MAP_FIXED_NOREPLACE: number;
  readonly MAP_POPULATE: number;
  readonly MADV_RANDOM: number;
  readonly MADV_SEQUENTIAL: number;
  readonly MADV_DONTNEED: number;
  readonly MADV_DONTFORK: number;
  readonly MADV_MERGEABLE: number;
  readonly MADV_HUGEPAGE: number;
  readonly MADV_NOHUGEPAGE: number;
  readonly MADV_DONTDUMP: number;
  readonly MADV_WIPEONFORK: number;
  /** Linux 6.13's guard regions. */
  readonly MADV_GUARD_INSTALL: number;
}

/**
 * The kernel's user ABI numbers and struct layouts that differ between architectures, as data.
 * src/arch/asm-generic.ts holds the asm-generic values; an architecture spreads them and
 * overrides what its uapi headers change.
 */
export interface KernelAbi {
  readonly layouts: {
    readonly epollEvent: EpollEventLayout;
    readonly termios: TermiosLayout;
  };
  readonly ioctls: Readonly<Record<IoctlName, number>>;
  readonly solSocket: number;
  readonly socketOptions: Readonly<Record<SocketOptionName, number>>;
  readonly openFlags: OpenFlags;
  readonly mman: MmanFlags;
}

/** What a thread stopped inside a syscall does when it resumes (kernel restart semantics). */
export type RestartAction =
  | 'none'             // not in a syscall, or the result is final
  | 'restart'          // ip back to the syscall instruction, number back in the result register
  | 'restart_syscall'  // ip back, number = __NR_restart_syscall
  | 'eintr';           // result becomes -EINTR

export interface RestartRule {
  readonly errno: number;
  readonly name: string;
  /** The kernel, resuming with no handler run (e.g. after a ptrace stop). */
  readonly noHandler: RestartAction;
  /** The kernel, delivering a signal to a handler with SA_RESTART. */
  readonly handlerSaRestart: RestartAction;
  /** The kernel, delivering a signal to a handler without SA_RESTART. */
  readonly handler: RestartAction;
  /** What the dumped registers become (what CRIU stores, so each restores the other's images). */
  readonly onDump: RestartAction;
  /**
   * What a task a dump leaves running gets back when cryo is killed inside one of its calls (the
   * call ending's frame, inject/call-ending.ts): the interrupted call again from the start, with
   * its own arguments. rt_sigreturn drops the restart block, so restart_syscall would end in EINTR.
   */
  readonly onRunOn: RestartAction;
}

/** Which of a rule's actions a register fix applies: the image's, or the call ending frame's. */
export type RestartUse = 'onDump' | 'onRunOn';
