/**
 * Waiting for a descriptor of cryo's own. Every bounded wait goes through here so that a signal cryo
 * handles (a profiler's SIGPROF, the SIGTERM it ends a dump on later) never cuts one short: the wait
 * goes on for the time left.
 */
import { SysError } from './errno.js';
import { rawSyscall } from './raw.js';
import { readU16, writeI32, writeU16, writeU64 } from './native-endian.js';

/** poll(2)'s event bits cryo asks for (the same on every architecture cryo targets). */
export const POLLIN = 0x1;
export const POLLHUP = 0x10;
export const POLLRDHUP = 0x2000;

/**
 * The events of `events` that `fd` has, waiting up to `timeoutMs` (fractions allowed; 0 = look
 * only) for one: 0 when none came in time.
 */
export function pollFd(fd: number, events: number, timeoutMs: number): number {
  const p = Buffer.alloc(8); // struct pollfd
  writeI32(p, fd, 0);
  writeU16(p, events, 4);
  const ts = Buffer.alloc(16); // struct timespec
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left = Math.max(0, deadline - performance.now());
    writeU64(ts, BigInt(Math.floor(left / 1000)), 0);
    writeU64(ts, BigInt(Math.floor((left % 1000) * 1e6)), 8);
    try {
      rawSyscall('ppoll', p, 1, ts, 0, 0);
      return readU16(p, 6);
    } catch (e) {
      if (!(e instanceof SysError && e.code === 'EINTR')) throw e;
      if (left === 0) return 0;
    }
  }
}
