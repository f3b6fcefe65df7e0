/**
 * userfaultfd ioctls used for write tracking (Linux 6.7+: UFFD_FEATURE_WP_ASYNC). The ioctls act on
 * the mm the descriptor was created in, so cryo creates it in the task (by injection) and then
 * configures it from outside through a pidfd_getfd copy.
 */
import { writeU64 } from './native-endian.js';
import { ioctl } from './misc.js';

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
