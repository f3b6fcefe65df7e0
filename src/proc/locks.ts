// File lock lines, as in /proc/locks and the "lock:" lines of fdinfo (fs/locks.c, lock_get_status).
import { readProcText, readProcTextLater } from './read.js';

export interface FileLock {
  id: number;
  /** POSIX, FLOCK, OFDLCK, LEASE, DELEG, ... */
  kind: string;
  /** ADVISORY, MANDATORY (POSIX/FLOCK/OFDLCK); ACTIVE, BREAKING, BREAKER (leases). */
  mode: string;
  /** READ, WRITE, UNLCK (or RW for old MSNFS locks). */
  type: string;
  /** Owner pid; -1 when not visible (OFD locks, other pid namespaces). */
  pid: number;
  devMajor: number;
  devMinor: number;
  inode: bigint;
  start: bigint;
  /** null for EOF (lock to end of file). */
  end: bigint | null;
  /** A "->" line: a request waiting on the lock before it. */
  blocked: boolean;
}

// A request with no file of its own (a lease breaker waiting, from any process on the machine) shows
// "<none>:0" where the device and inode go (fs/locks.c): it is read as device 0:0, inode 0.
const LOCK = /^\s*(\d+):\s*(->\s*)?(\S+)\s+(\S+)\s+(\S+)\s+(-?\d+)\s+(?:([0-9a-f]+):([0-9a-f]+):(\d+)|<none>:0)\s+(\d+)\s+(\d+|EOF)\s*$/;

/** Parses one lock line ("1: FLOCK  ADVISORY  WRITE 4781 fe:00:2146353 0 EOF"); null for an empty one. */
export function parseLockLine(line: string): FileLock | null {
  if (line.trim() === '') return null;
  const m = LOCK.exec(line);
  if (!m) throw new Error(`unexpected file lock line: ${JSON.stringify(line)}`);
  return {
    id: Number(m[1]),
    blocked: m[2] !== undefined,
    kind: m[3]!,
    mode: m[4]!,
    type: m[5]!,
    pid: Number(m[6]),
    devMajor: m[7] === undefined ? 0 : parseInt(m[7], 16),
    devMinor: m[8] === undefined ? 0 : parseInt(m[8], 16),
    inode: m[9] === undefined ? 0n : BigInt(m[9]),
    start: BigInt(m[10]!),
    end: m[11] === 'EOF' ? null : BigInt(m[11]!),
  };
}

export function parseLocks(text: string): FileLock[] {
  return text.split('\n').map(parseLockLine).filter((l): l is FileLock => l !== null);
}

export function readLocks(): FileLock[] {
  return parseLocks(readProcText('/proc/locks'));
}

/**
 * readLocks without blocking: reading /proc/locks waits for an RCU grace period (10-25 ms here,
 * fs/locks.c takes file_rwsem for write), which the caller spends on other work meanwhile.
 */
export function readLocksLater(): Promise<FileLock[]> {
  return readProcTextLater('/proc/locks').then(parseLocks);
}
