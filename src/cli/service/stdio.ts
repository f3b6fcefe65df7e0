// The command's standard streams: the client's descriptors put on the service's 0, 1 and 2 for
// the time of one command (code that reads fd 0 or writes fd 1 reaches the client), and fresh
// process.stdin/stdout/stderr objects made for them, a terminal's as Node makes its own (so that
// the progress line and isTTY checks behave as in the CLI). Between commands the service's own
// descriptors are back, and its own log goes to a copy of its stderr made at start.

import { closeSync, createReadStream, fstatSync, openSync, writeSync } from 'node:fs';
import { isatty, ReadStream as TtyReadStream, WriteStream as TtyWriteStream } from 'node:tty';
import { Writable } from 'node:stream';
import { rawSyscall, SysError } from '../../sys/index.js';

const F_DUPFD_CLOEXEC = 1030;
const NAMES = ['stdin', 'stdout', 'stderr'] as const;

/** A copy of `fd` at 10 or above, closed on exec. */
export function dupHigh(fd: number): number {
  return Number(rawSyscall('fcntl', fd, F_DUPFD_CLOEXEC, 10));
}

/**
 * A non-terminal output (pipe, file, socket) written synchronously, as Node writes stdout to
 * files and pipes. A reader gone (EPIPE) ends the writes quietly: the command goes on, as the
 * service must.
 */
class FdWriter extends Writable {
  readonly isTTY = false;
  private gone = false;
  constructor(readonly fd: number) {
    super({ decodeStrings: true });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    let off = 0;
    while (!this.gone && off < chunk.length) {
      try {
        off += writeSync(this.fd, chunk, off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); continue; }
        this.gone = true;
        return done(e as Error);
      }
    }
    done();
  }
}

function output(fd: number): NodeJS.WriteStream {
  const s = isatty(fd) ? new TtyWriteStream(fd) : new FdWriter(fd);
  // As Node's own stdout: a write error is no crash of the process (the service's, here).
  s.on('error', () => {});
  return s as unknown as NodeJS.WriteStream;
}

function input(): NodeJS.ReadStream {
  const s = isatty(0) ? new TtyReadStream(0) : createReadStream('', { fd: 0, autoClose: false });
  s.on('error', () => {});
  return s as unknown as NodeJS.ReadStream;
}

/** Puts `stdio` (the client's, now the service's own descriptors) in place; returns the undo. */
export function useStdio(stdio: readonly [number, number, number], own: readonly [number, number, number]): () => void {
  for (let i = 0; i < 3; i++) {
    rawSyscall('dup3', stdio[i]!, i, 0);
    closeSync(stdio[i]!);
  }
  const made: (NodeJS.WriteStream | NodeJS.ReadStream | undefined)[] = [];
  const saved = NAMES.map((n) => Object.getOwnPropertyDescriptor(process, n)!);
  NAMES.forEach((name, i) => {
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: true,
      get: () => (made[i] ??= i === 0 ? input() : output(i)),
    });
  });
  return () => {
    for (const s of made) {
      if (!s) continue;
      // Node's own stdio is never closed; these are the command's, and 0-2 stay open under them.
      if (s instanceof FdWriter) s.destroy();
      else (s as { destroy(): void }).destroy();
    }
    NAMES.forEach((name, i) => Object.defineProperty(process, name, saved[i]!));
    for (let i = 0; i < 3; i++) {
      try {
        rawSyscall('dup3', own[i]!, i, 0);
      } catch (e) {
        if (!(e instanceof SysError)) throw e;
      }
    }
  };
}

/** The command's 0-2 on /dev/null: its client is gone, and nothing it writes may reach the caller. */
export function muteStdio(): void {
  const nul = openSync('/dev/null', 'r+');
  for (let i = 0; i < 3; i++) rawSyscall('dup3', nul, i, 0);
  closeSync(nul);
}

/** The service's own descriptors 0-2, kept above 10 while commands use 0-2. */
export function keepOwnStdio(): [number, number, number] {
  return [0, 1, 2].map((fd) => {
    try {
      fstatSync(fd);
      return dupHigh(fd);
    } catch {
      const nul = openSync('/dev/null', 'r+');
      const high = dupHigh(nul);
      closeSync(nul);
      return high;
    }
  }) as [number, number, number];
}
