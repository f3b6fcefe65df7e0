/**
 * Reading and writing another process's memory with process_vm_readv/process_vm_writev.
 * Both loop over partial transfers (the kernel stops at the first unmapped page) and batch
 * iovecs up to IOV_MAX per call.
 */
import { SysError } from './errno.js';
import { iovecBytes } from './native-endian.js';
import { addressOf, syscallAs } from './raw.js';

/** The kernel's limit on iovecs per call (UIO_MAXIOV). */
export const IOV_MAX = 1024;
/** Largest transfer per call: the kernel caps one call at MAX_RW_COUNT (INT_MAX & PAGE_MASK). */
const MAX_PER_CALL = 0x7fff0000;

/** A remote address range. */
export interface RemoteRange {
  addr: bigint;
  length: number;
}

const hex = (a: bigint) => `0x${a.toString(16)}`;

type Direction = 'process_vm_readv' | 'process_vm_writev';

/**
 * Moves bytes between `local` and the remote ranges, in order, until all are done or the kernel
 * stops making progress (unmapped page). Returns the bytes moved. Throws only when the very first
 * byte fails.
 */
function transfer(dir: Direction, pid: number, ranges: RemoteRange[], local: Buffer): number {
  const total = ranges.reduce((s, r) => s + r.length, 0);
  if (total > local.length) throw new RangeError(`${dir}: ${total} bytes do not fit a ${local.length}-byte buffer`);
  const base = addressOf(local);
  let done = 0;
  let ri = 0; // current range
  let rOff = 0; // bytes done within it
  const localIov = Buffer.alloc(16);
  // One iovec per range at most in a call (most calls move one range: no 16 KiB table for those).
  const remoteIov = Buffer.alloc(16 * Math.min(IOV_MAX, ranges.length));
  while (ri < ranges.length) {
    if (ranges[ri].length === rOff) { ri++; rOff = 0; continue; }
    // Fill one batch of remote iovecs from the current position.
    let n = 0;
    let bytes = 0;
    for (let i = ri, off = rOff; i < ranges.length && n < IOV_MAX && bytes < MAX_PER_CALL; i++, off = 0) {
      const len = Math.min(ranges[i].length - off, MAX_PER_CALL - bytes);
      if (len === 0) continue;
      iovecBytes(ranges[i].addr + BigInt(off), len, remoteIov, n * 16);
      n++;
      bytes += len;
    }
    iovecBytes(base + BigInt(done), bytes, localIov);
    const first = ranges[ri].addr + BigInt(rOff);
    let got: number;
    try {
      got = Number(syscallAs(`${dir}(${pid}, ${hex(first)}, ${bytes})`, dir, pid, localIov, 1, remoteIov, n, 0));
    } catch (err) {
      if (done > 0 && err instanceof SysError && (err.code === 'EFAULT' || err.code === 'EIO')) return done;
      throw err;
    }
    if (got === 0) return done;
    done += got;
    // Advance the range cursor by `got` bytes.
    for (let left = got; left > 0;) {
      const step = Math.min(left, ranges[ri].length - rOff);
      left -= step;
      rOff += step;
      if (rOff === ranges[ri].length) { ri++; rOff = 0; }
    }
    if (got < bytes) {
      // Partial: the kernel stopped at an unreadable page; one more try from there tells
      // whether it was a transient short transfer (progress) or the end (EFAULT -> return).
      continue;
    }
  }
  return done;
}

/**
 * Reads the task's memory at `remoteAddr`: into `into` (returns the bytes read, fewer when an
 * unmapped page ends the range), or `length` bytes into a new Buffer (trimmed to what was read).
 */
export function processVmReadv(pid: number, remoteAddr: bigint, into: Buffer): number;
export function processVmReadv(pid: number, remoteAddr: bigint, length: number): Buffer;
export function processVmReadv(pid: number, remoteAddr: bigint, intoOrLength: Buffer | number): number | Buffer {
  if (typeof intoOrLength === 'number') {
    const buf = Buffer.alloc(intoOrLength);
    return buf.subarray(0, transfer('process_vm_readv', pid, [{ addr: remoteAddr, length: intoOrLength }], buf));
  }
  return transfer('process_vm_readv', pid, [{ addr: remoteAddr, length: intoOrLength.length }], intoOrLength);
}

/** Writes `data` into the task's memory at `remoteAddr`; returns the bytes written. */
export function processVmWritev(pid: number, remoteAddr: bigint, data: Buffer): number {
  return transfer('process_vm_writev', pid, [{ addr: remoteAddr, length: data.length }], data);
}

/**
 * Reads many ranges, packed one after another into `into`, in as few syscalls as possible
 * (IOV_MAX ranges per call). Returns the bytes read: fewer than the total when a range hits an
 * unmapped page (everything before that byte is valid).
 */
export function readMany(pid: number, ranges: RemoteRange[], into: Buffer): number {
  return transfer('process_vm_readv', pid, ranges, into);
}

/** Writes many ranges from `data` (packed one after another); returns the bytes written. */
export function writeMany(pid: number, ranges: RemoteRange[], data: Buffer): number {
  return transfer('process_vm_writev', pid, ranges, data);
}
