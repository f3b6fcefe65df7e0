/**
 * userfaultfd ioctls used for write tracking (Linux 6.7+: UFFD_FEATURE_WP_ASYNC). The ioctls act on
 * the mm the descriptor was created in, so cryo creates it in the task (by injection) and then
 * configures it from outside through a pidfd_getfd copy.
 */
import { readI64, writeU64 } from './native-endian.js';
import { ioctl } from './misc.js';
import { addressOf } from './raw.js';
import { SysError } from './errno.js';

/** userfaultfd(2) flag: handle user-mode faults only (allowed without CAP_SYS_PTRACE). */
export const UFFD_USER_MODE_ONLY = 1;
const UFFD_API = 0xaan;
/** Write faults are resolved by the kernel itself, only clearing the page's uffd-wp bit. */
export const UFFD_FEATURE_WP_ASYNC = 1 << 15;
/** _IOWR(0xAA, 0x3F, struct uffdio_api) and _IOWR(0xAA, 0x00, struct uffdio_register). */
const UFFDIO_API = 0xc018aa3f;
const UFFDIO_REGISTER = 0xc020aa00;
const UFFDIO_REGISTER_MODE_WP = 2n;

/** UFFDIO_API with `features`; throws SysError EINVAL when the kernel lacks one of them. */
export function uffdApi(fd: number, features: number): void {
  const b = Buffer.alloc(24); // struct uffdio_api { u64 api, features, ioctls; }
  writeU64(b, UFFD_API, 0);
  writeU64(b, BigInt(features), 8);
  ioctl(fd, UFFDIO_API, b);
}

/** Registers [start, start+len) of the descriptor's mm for write-protect tracking. */
export function uffdRegisterWp(fd: number, start: bigint, len: bigint): void {
  const b = Buffer.alloc(32); // struct uffdio_register { struct uffdio_range { u64 start, len; }; u64 mode, ioctls; }
  writeU64(b, start, 0);
  writeU64(b, len, 8);
  writeU64(b, UFFDIO_REGISTER_MODE_WP, 16);
  ioctl(fd, UFFDIO_REGISTER, b);
}

/** _IOWR(0xAA, 0x03, struct uffdio_copy) and _IOWR(0xAA, 0x04, struct uffdio_zeropage). */
const UFFDIO_COPY = 0xc028aa03;
const UFFDIO_ZEROPAGE = 0xc020aa04;
const UFFDIO_REGISTER_MODE_MISSING = 1n;
/** uffd_msg.event of a page fault. */
export const UFFD_EVENT_PAGEFAULT = 0x12;
/** sizeof(struct uffd_msg). */
export const UFFD_MSG_SIZE = 32;

/** Registers [start, start+len) of the descriptor's mm: a fault on a missing page waits for the holder to fill it. */
export function uffdRegisterMissing(fd: number, start: bigint, len: bigint): void {
  const b = Buffer.alloc(32);
  writeU64(b, start, 0);
  writeU64(b, len, 8);
  writeU64(b, UFFDIO_REGISTER_MODE_MISSING, 16);
  ioctl(fd, UFFDIO_REGISTER, b);
}

/**
 * UFFDIO_COPY of `data` to dst in the descriptor's mm, waking the faulting threads. Returns the bytes
 * copied (a partial copy stops before a page that is already there, or where the mm changed:
 * EAGAIN), or -1 when the page at dst is already there (EEXIST). Throws other errors (ESRCH: the task is gone).
 */
export function uffdCopy(fd: number, dst: bigint, data: Buffer): number {
  const b = Buffer.alloc(40); // struct uffdio_copy { u64 dst, src, len, mode; s64 copy; }
  writeU64(b, dst, 0);
  writeU64(b, addressOf(data), 8);
  writeU64(b, BigInt(data.length), 16);
  try {
    ioctl(fd, UFFDIO_COPY, b);
    return data.length;
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    const done = Number(readI64(b, 32));
    if (done > 0) return done;
    if (e.code === 'EEXIST') return -1;
    if (e.code === 'EAGAIN') return 0;
    throw e;
  }
}

/** UFFDIO_ZEROPAGE of [dst, dst+len): pages never dumped were never touched (zero). EEXIST counts as done. */
export function uffdZeropage(fd: number, dst: bigint, len: number): void {
  const b = Buffer.alloc(32);
  writeU64(b, dst, 0);
  writeU64(b, BigInt(len), 8);
  try {
    ioctl(fd, UFFDIO_ZEROPAGE, b);
  } catch (e) {
    if (!(e instanceof SysError && e.code === 'EEXIST')) throw e;
  }
}
