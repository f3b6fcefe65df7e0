// Reading what a dumped task's files and pipes hold without changing them: data runs around holes,
// a pipe's buffer duplicated by tee(), a read end for a write-only descriptor.
import { closeSync, openSync, readSync, constants as fsc } from 'node:fs';
import { rawSyscall, SysError, SEEK_DATA, SEEK_HOLE, lseek } from '../sys/index.js';
import { F_GETPIPE_SZ, F_SETPIPE_SZ, O_ACCMODE, O_CLOEXEC, O_NONBLOCK, O_WRONLY, SPLICE_F_NONBLOCK } from './constants.js';

export function readAt(fd: number, off: bigint, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let got = 0; got < len;) {
    const n = readSync(fd, b, got, len - got, off + BigInt(got));
    if (n === 0) break;
    got += n;
  }
  return b;
}

/** The data regions of a file (SEEK_DATA/SEEK_HOLE on cryo's own descriptor), aligned to `align`. */
export function dataRuns(fd: number, size: bigint, align: bigint): { off: bigint; data: Buffer }[] {
  const out: { off: bigint; data: Buffer }[] = [];
  let pos = 0n;
  while (pos < size) {
    let start: bigint;
    try {
      start = lseek(fd, pos, SEEK_DATA);
    } catch (e) {
      if (e instanceof SysError && e.code === 'ENXIO') break;
      throw e;
    }
    let end = lseek(fd, start, SEEK_HOLE);
    start -= start % align;
    end = end > size ? size : end;
    const alignedEnd = ((end + align - 1n) / align) * align;
    out.push({ off: start, data: readAt(fd, start, Number(alignedEnd - start)) });
    pos = alignedEnd;
  }
  return out;
}

/** The bytes in a pipe's buffer, duplicated with tee() into a pipe of cryo's own: the task keeps them. */
export function peekPipe(readFd: number): { data: Buffer; size: number; defaultSize: number } {
  const size = Number(rawSyscall('fcntl', readFd, F_GETPIPE_SZ, 0));
  const fds = new Int32Array(2);
  rawSyscall('pipe2', fds, O_NONBLOCK | O_CLOEXEC);
  try {
    const defaultSize = Number(rawSyscall('fcntl', fds[1]!, F_GETPIPE_SZ, 0));
    rawSyscall('fcntl', fds[1]!, F_SETPIPE_SZ, size);
    let n = 0;
    try {
      n = Number(rawSyscall('tee', readFd, fds[1]!, size, SPLICE_F_NONBLOCK));
    } catch (e) {
      if (!(e instanceof SysError && e.code === 'EAGAIN')) throw e; // empty pipe
    }
    const data = Buffer.alloc(n);
    for (let got = 0; got < n;) got += readSync(fds[0]!, data, got, n - got, null);
    return { data, size, defaultSize };
  } finally {
    closeSync(fds[0]!);
    closeSync(fds[1]!);
  }
}

/**
 * A read end of the pipe or FIFO behind a task's descriptor, for peeking: cryo's copy when it can
 * read, else a fresh reader opened through /proc.
 */
export function withReader(stolen: number, flags: number, procFd: string, fn: (fd: number) => void): void {
  if ((flags & O_ACCMODE) !== O_WRONLY) {
    fn(stolen);
    return;
  }
  const rd = openSync(procFd, fsc.O_RDONLY | fsc.O_NONBLOCK);
  try {
    fn(rd);
  } finally {
    closeSync(rd);
  }
}
