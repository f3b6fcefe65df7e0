/**
 * waitpid/waitid and waitForStop. All synchronous: tracing stays on the main JS thread
 * (see ptrace.ts), and waitForStop blocks with a bound so a task that never stops becomes an
 * error after a timeout instead of hanging cryo.
 */
import { readI32 } from './native-endian.js';
import { SysError } from './errno.js';
import { syscallAs } from './raw.js';
import { native } from './native.js';
import { describeStatus, exited, signaled, stopped } from './wait-status.js';

export * from './wait-status.js';

export const WNOHANG = 0x1;
export const WUNTRACED = 0x2;
export const WSTOPPED = 0x2;
export const WEXITED = 0x4;
export const WCONTINUED = 0x8;
export const WNOWAIT = 0x01000000;
export const __WNOTHREAD = 0x20000000;
/** Wait for all children, clone or not (needed for threads of a traced process). */
export const __WALL = 0x40000000;
export const __WCLONE = 0x80000000 | 0;

export const P_ALL = 0;
export const P_PID = 1;
export const P_PGID = 2;
export const P_PIDFD = 3;

export interface WaitResult {
  /** The PID that changed state; 0 with WNOHANG when none did. */
  pid: number;
  /** The raw status; decode with exited/stopped/... */
  status: number;
}

/** waitpid(pid, options) (wait4 without rusage). pid -1 = any child. */
export function waitpid(pid: number, options = 0): WaitResult {
  const status = Buffer.alloc(4);
  let got: number;
  for (;;) {
    try {
      got = Number(syscallAs(`waitpid(${pid})`, 'wait4', pid, status, options, 0));
      break;
    } catch (e) {
      // A signal handled by cryo cut a blocking wait short: wait on.
      if (!(e instanceof SysError && e.code === 'EINTR')) throw e;
    }
  }
  return { pid: got, status: got === 0 ? 0 : readI32(status, 0) };
}

export interface WaitidResult {
  /** 0 with WNOHANG when no child changed state. */
  pid: number;
  uid: number;
  /** CLD_EXITED (1), CLD_KILLED (2), CLD_DUMPED (3), CLD_TRAPPED (4), CLD_STOPPED (5), CLD_CONTINUED (6). */
  code: number;
  /** Exit code or signal, per `code`. */
  status: number;
}

/** waitid(idtype, id, options): options must include WEXITED/WSTOPPED/WCONTINUED. */
export function waitid(idtype: number, id: number, options: number): WaitidResult {
  const si = Buffer.alloc(128);
  syscallAs(`waitid(${idtype}, ${id})`, 'waitid', idtype, id, si, options, 0);
  // siginfo_t: si_signo, si_errno, si_code, then (8-aligned) _sigchld { pid, uid, status }.
  return { pid: readI32(si, 16), uid: readI32(si, 20), code: readI32(si, 8), status: readI32(si, 24) };
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Blocks the thread for `ms` milliseconds (fractions allowed) without spinning. */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** Thrown when a task does not reach a stop in time, or ends instead of stopping. */
export class WaitError extends Error {
  constructor(message: string, readonly pid: number, readonly status?: number) {
    super(message);
    this.name = 'WaitError';
  }
}

/**
 * Waits until traced task `pid` reports a stop and returns its status (__WALL so threads work):
 * wait4 blocked in the kernel (native waitStop), woken by the stop itself and cut short by a timer
 * at the bound; polling oversleeps stops on a loaded machine and made a 300 ms bound fire after
 * 0.5-1.1 s. Throws WaitError when the task exits or is killed instead, or when nothing happens
 * within `timeoutMs` (default 10 s): a task that never stops is an error, not a hang.
 */
export function waitForStop(pid: number, opts: { timeoutMs?: number } = {}): WaitResult {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const [got, status] = native().waitStop(pid, __WALL, Math.max(deadline - performance.now(), 0));
    if (got === 0) {
      throw new WaitError(`task ${pid} did not stop within ${timeoutMs} ms (is it traced by cryo, or in uninterruptible sleep?)`, pid);
    }
    if (stopped(status)) return { pid: got, status };
    if (exited(status) || signaled(status)) {
      throw new WaitError(`task ${pid} ${describeStatus(status)} while cryo waited for it to stop`, pid, status);
    }
  }
}
