/** Small typed wrappers over rawSyscall that other parts of cryo need. */
import { closeSync, fstatSync } from 'node:fs';
import { readI32, writeU32 } from './native-endian.js';
import { native } from './native.js';
import { rawSyscall, syscallAs, toSysError, type SysArg } from './raw.js';

/** A NUL-terminated copy of `s`, for syscalls that take a path. */
export const cstr = (s: string) => Buffer.from(`${s}\0`);

export function getpid(): number {
  return Number(rawSyscall('getpid'));
}

/** The calling thread's TID (the main JS thread: equals getpid()). */
export function gettid(): number {
  return Number(rawSyscall('gettid'));
}

export function kill(pid: number, sig: number): void {
  syscallAs(`kill(${pid}, ${sig})`, 'kill', pid, sig);
}

export function tgkill(tgid: number, tid: number, sig: number): void {
  syscallAs(`tgkill(${tgid}, ${tid}, ${sig})`, 'tgkill', tgid, tid, sig);
}

/** prctl(option, a2..a5) on the calling thread. */
export function prctl(option: number, a2: SysArg = 0, a3: SysArg = 0, a4: SysArg = 0, a5: SysArg = 0): bigint {
  return syscallAs(`prctl(${option})`, 'prctl', option, a2, a3, a4, a5);
}

export const MFD_CLOEXEC = 0x1;
export const MFD_ALLOW_SEALING = 0x2;
export const MFD_NOEXEC_SEAL = 0x8;
export const MFD_EXEC = 0x10;

/** An anonymous memory file (memfd_create); returns its descriptor. */
export function memfdCreate(name: string, flags = MFD_CLOEXEC): number {
  return Number(syscallAs(`memfd_create(${name})`, 'memfd_create', cstr(name), flags));
}

let shmemDevice: bigint | undefined;
/**
 * The device of the kernel's internal shmem mount: memfds, shared anonymous memory and System V
 * segments all live there (a descriptor of one shows a path such as /dev/zero, not /memfd:).
 */
export function shmemDev(): bigint {
  if (shmemDevice === undefined) {
    const fd = memfdCreate('cryo-shmem-probe');
    try {
      shmemDevice = fstatSync(fd, { bigint: true }).dev;
    } finally {
      closeSync(fd);
    }
  }
  return shmemDevice;
}

/** ioctl(fd, request, arg): a Buffer arg passes its address. */
export function ioctl(fd: number, request: number | bigint, arg: SysArg = 0): bigint {
  return syscallAs(`ioctl(${fd}, 0x${BigInt.asUintN(32, BigInt(request)).toString(16)})`, 'ioctl', fd, request, arg);
}

export const SEEK_SET = 0;
export const SEEK_CUR = 1;
export const SEEK_END = 2;
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

/** lseek(fd, offset, whence); returns the new offset. */
export function lseek(fd: number, offset: bigint | number, whence: number): bigint {
  return syscallAs(`lseek(${fd}, ${offset}, ${whence})`, 'lseek', fd, BigInt(offset), whence);
}

/** personality(persona); the default 0xffffffff only queries the current value. */
export function personality(persona = 0xffffffff): number {
  return Number(syscallAs(`personality(0x${persona.toString(16)})`, 'personality', persona));
}

export const AT_FDCWD = -100;
export const AT_EMPTY_PATH = 0x1000;
export const AT_SYMLINK_FOLLOW = 0x400;
/** Largest file handle the kernel hands out (MAX_HANDLE_SZ). */
export const MAX_HANDLE_SZ = 128;

export interface FileHandle {
  /** handle_type of struct file_handle. */
  type: number;
  /** The opaque f_handle bytes. */
  bytes: Buffer;
  mountId: number;
}

/** name_to_handle_at(dirfd, path, flags): a file handle and mount id for a path. */
export function nameToHandleAt(dirfd: number, path: string, flags = 0): FileHandle {
  const fh = Buffer.alloc(8 + MAX_HANDLE_SZ); // struct file_handle { u32 handle_bytes; int handle_type; u8 f_handle[]; }
  writeU32(fh, MAX_HANDLE_SZ, 0);
  const mnt = Buffer.alloc(4);
  syscallAs(`name_to_handle_at(${dirfd}, ${path})`, 'name_to_handle_at', dirfd, cstr(path), fh, mnt, flags);
  const n = readI32(fh, 0);
  return { type: readI32(fh, 4), bytes: Buffer.from(fh.subarray(8, 8 + n)), mountId: readI32(mnt, 0) };
}

/** open_by_handle_at(mountFd, handle, flags): opens a file by handle (needs CAP_DAC_READ_SEARCH). */
export function openByHandleAt(mountFd: number, handle: Pick<FileHandle, 'type' | 'bytes'>, flags: number): number {
  const fh = Buffer.alloc(8 + handle.bytes.length);
  writeU32(fh, handle.bytes.length, 0);
  writeU32(fh, handle.type, 4);
  handle.bytes.copy(fh, 8);
  return Number(syscallAs(`open_by_handle_at(${mountFd})`, 'open_by_handle_at', mountFd, fh, flags));
}

/** Whether this kernel knows madvise advice `advice` (an empty range: EINVAL only for unknown advice). */
export function madviseKnows(advice: number): boolean {
  try {
    rawSyscall('madvise', 0, 0, advice);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === 'EINVAL') return false;
    throw e;
  }
}

/**
 * Moves exactly `bytes` from `from` to `to` with splice(2) (one of them a pipe), at most `piece` per
 * call (0: no limit), the loop in the addon; `what` names the move in the error when it stops short.
 */
export function spliceAll(from: number, to: number, bytes: number, what: string, piece = 0): void {
  let n: number;
  try {
    n = native().spliceAll(from, to, bytes, piece);
  } catch (e) {
    return toSysError(e, `splice ${what}`);
  }
  if (n < bytes) throw new Error(`splice ${what} moved ${n} of ${bytes} bytes`);
}
