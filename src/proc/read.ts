// Opening /proc/PID/* files: one place that turns fs errors into one clear line.
import { closeSync, openSync, read, readFileSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { faultPoint } from '../fault.js';

/** A process id, or 'self' for the calling process. */
export type Pid = number | 'self';

/** Why a /proc read failed, in words a user understands. */
const REASONS: Record<string, string> = {
  ENOENT: 'the process is gone',
  ESRCH: 'the process is gone',
  EACCES: 'permission denied (run as root or as the owner of the process)',
  EPERM: 'operation not permitted (ptrace access mode check failed)',
  EIO: 'I/O error',
};

/** Reading something under /proc failed; `gone` says the task vanished meanwhile. */
export class ProcReadError extends Error {
  readonly path: string;
  readonly code: string;
  readonly gone: boolean;
  constructor(path: string, code: string, cause?: unknown) {
    super(`cannot read ${path}: ${REASONS[code] ?? 'unexpected error'} (${code})`, { cause });
    this.name = 'ProcReadError';
    this.path = path;
    this.code = code;
    this.gone = code === 'ENOENT' || code === 'ESRCH';
  }
}

/** Whether `e` says the process (or thread) ended: the one /proc failure callers may take as an answer. */
export function procGone(e: unknown): boolean {
  return e instanceof ProcReadError && e.gone;
}

/** Path of a per-process (or per-thread when tid is given) /proc entry. */
export function procPath(pid: Pid, rel: string, tid?: number): string {
  return tid === undefined ? `/proc/${pid}/${rel}` : `/proc/${pid}/task/${tid}/${rel}`;
}

function wrap<T>(path: string, fn: () => T): T {
  // cryo's own files are no step of an operation (some are read once per process and kept).
  if (!path.startsWith('/proc/self/')) faultPoint(`read ${path}`);
  try {
    return fn();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string') throw new ProcReadError(path, code, err);
    throw err;
  }
}

export function readProcText(path: string): string {
  return wrap(path, () => readFileSync(path, 'utf8'));
}

/**
 * readProcText on libuv's thread pool, for files whose read sleeps in the kernel (/proc/locks).
 * Opened here and read by requests of 64 KiB to its end: readFile's open, stat, read and close would each
 * wait for a turn of the event loop, which a busy caller gives rarely. `chunk`: the size of each
 * request (a file known to be small, such as a thread's status, needs no 64 KiB buffer).
 */
export function readProcTextLater(path: string, chunkBytes = 64 << 10): Promise<string> {
  faultPoint(`read ${path}`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return Promise.reject(typeof code === 'string' ? new ProcReadError(path, code, err) : err);
  }
  const parts: Buffer[] = [];
  const chunk = Buffer.allocUnsafe(chunkBytes);
  return new Promise<string>((resolve, reject) => {
    const next = () => read(fd, chunk, 0, chunk.length, null, (err, n, buf) => {
      if (err !== null) {
        closeSync(fd);
        reject(typeof err.code === 'string' ? new ProcReadError(path, err.code, err) : err);
      } else {
        // Only a read of nothing is the end: a seq_file answers a read with one page or one record
        // at most (smaps: one mapping's block), however much was asked for.
        if (n > 0) { parts.push(Buffer.from(buf.subarray(0, n))); next(); return; }
        closeSync(fd);
        resolve(Buffer.concat(parts).toString('utf8'));
      }
    });
    next();
  });
}

/** Where readProcBytes reads: readFileSync makes two fresh 64 KiB buffers for a file of size 0 (all of /proc). */
const procScratch = Buffer.allocUnsafeSlow(64 << 10);

export function readProcBytes(path: string): Buffer {
  return wrap(path, () => {
    const fd = openSync(path, 'r');
    try {
      const parts: Buffer[] = [];
      for (let n; (n = readSync(fd, procScratch, 0, procScratch.length, null)) > 0;) parts.push(Buffer.from(procScratch.subarray(0, n)));
      return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    } finally {
      closeSync(fd);
    }
  });
}

export function readProcLink(path: string): string {
  return wrap(path, () => readlinkSync(path));
}

export function readProcDir(path: string): string[] {
  return wrap(path, () => readdirSync(path));
}

export function openProcFile(path: string): number {
  return wrap(path, () => openSync(path, 'r'));
}

/** Reads up to buf.length bytes at a 64-bit offset (pagemap offsets can exceed 2^53). */
export function preadProc(path: string, fd: number, buf: Buffer, offset: bigint): number {
  return wrap(path, () => readSync(fd, buf, 0, buf.length, offset));
}

export function closeProcFile(fd: number): void {
  closeSync(fd);
}
