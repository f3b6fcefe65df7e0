/** pidfd_open / pidfd_getfd / pidfd_send_signal and kcmp. */
import { rawSyscall, syscallAs } from './raw.js';

/** PIDFD_NONBLOCK (O_NONBLOCK's value on the supported 64-bit architectures). */
export const PIDFD_NONBLOCK = 0o4000;
/** PIDFD_THREAD (= O_EXCL): a pidfd for a thread rather than a thread-group leader (Linux 6.9). */
export const PIDFD_THREAD = 0o200;

/** A pidfd for `pid` (close it with fs.closeSync). */
export function pidfdOpen(pid: number, flags = 0): number {
  return Number(syscallAs(`pidfd_open(${pid})`, 'pidfd_open', pid, flags));
}

/** Duplicates descriptor `targetFd` of the pidfd's process into this process (needs ptrace access). */
export function pidfdGetfd(pidfd: number, targetFd: number, flags = 0): number {
  return Number(syscallAs(`pidfd_getfd(${pidfd}, ${targetFd})`, 'pidfd_getfd', pidfd, targetFd, flags));
}

/** Sends `sig` to the pidfd's process (no siginfo). */
export function pidfdSendSignal(pidfd: number, sig: number, flags = 0): void {
  syscallAs(`pidfd_send_signal(${pidfd}, ${sig})`, 'pidfd_send_signal', pidfd, sig, 0, flags);
}

/** kcmp types (include/uapi/linux/kcmp.h). */
export const KCMP_FILE = 0;
export const KCMP_VM = 1;
export const KCMP_FILES = 2;
export const KCMP_FS = 3;
export const KCMP_SIGHAND = 4;
export const KCMP_IO = 5;
export const KCMP_SYSVSEM = 6;
export const KCMP_EPOLL_TFD = 7;

/**
 * Compares kernel objects of two processes: 0 equal, 1 / 2 ordered less / greater, 3 not equal
 * but unordered. For KCMP_FILE idx1/idx2 are descriptors; for KCMP_EPOLL_TFD idx2 is a pointer to
 * struct kcmp_epoll_slot (pass a Buffer).
 */
export function kcmp(pid1: number, pid2: number, type: number, idx1: number | bigint = 0, idx2: number | bigint | Buffer = 0): number {
  return Number(rawSyscall('kcmp', pid1, pid2, type, idx1, idx2));
}
