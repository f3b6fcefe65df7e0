/**
 * A dump's batches ending in the thread's own state (issue 15). A batch runner that ends in a
 * breakpoint kills the task when cryo dies while it runs (the SIGTRAP then has no tracer). Where the
 * arch has SyscallAbi.batchThenSigreturn and the thread's calls end in rt_sigreturn
 * (call-ending.ts), the runner ends instead by telling cryo (one byte on a socket pair whose other
 * end only cryo holds) and waiting in ppoll on that socket with SP on the thread's frame. A live
 * cryo stops it there (PTRACE_INTERRUPT); a dead cryo's end is closed, so ppoll returns and the
 * runner closes the socket and runs into rt_sigreturn, and on with the thread's own state.
 */
import { closeSync } from 'node:fs';
import {
  POLLIN, cont, describeStatus, interrupt, pidfdGetfd, pidfdOpen, pollFd, processVmReadv, processVmWritev, ptraceEvent, rawSyscall,
  stopped, SysError, waitForStop, waitpid, WNOHANG, __WALL,
} from '../sys/index.js';
import { readI32, writeI16, writeI32 } from '../sys/native-endian.js';
import { PTRACE_EVENT_STOP } from '../sys/ptrace-constants.js';
import { InjectError } from './errors.js';
import type { Injector } from './injector.js';
import type { Steps } from './steps.js';

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
/** Bytes of the struct pollfd in the task (int fd; short events, revents). */
export const PARK_BYTES = 8;

export interface BatchPark {
  /** SyscallAbi.batchThenSigreturn in the task. */
  readonly code: bigint;
  /** The struct pollfd the runner sends from and waits on (fd: the task's end of the socket pair). */
  readonly pollfd: bigint;
  /** The task's end. */
  readonly taskFd: number;
  /** cryo's end (the only one once the task's copy is closed). */
  readonly fd: number;
  /** The task's copy of cryo's end, closed by the first batch that parks here (openParkSteps' `closeAt`). */
  readonly closeFirst?: FirstClose;
}

/**
 * A close of the task's copy of cryo's end that runs as the first call of the first batch that
 * parks (SyscallBatch.launch writes it at `at`, the entry before the place's table): one injected
 * call less, and closed before that batch's runner waits on the socket (a dead cryo's end then reads as closed).
 */
export interface FirstClose {
  readonly fd: number;
  readonly at: bigint;
  /** Its batch started (its entry written). */
  launched: boolean;
}

/** The descriptors a park holds so far: the task's (closed by injected calls) and cryo's end. */
export interface ParkFds {
  task: number[];
  own: number;
}

/**
 * Makes the socket pair in the task (its fds first written at `pollfd`, then the pollfd there),
 * each descriptor noted in `held` as it exists, for closePark whatever happens; undefined where the
 * task refuses it (a seccomp filter, no free descriptor): batches then end in the breakpoint.
 * `closeAt`: the task's copy of cryo's end is closed by the first parked batch (BatchPark.closeFirst)
 * instead of a call of its own.
 */
export function* openParkSteps(inj: Injector, held: ParkFds, code: bigint, pollfd: bigint, closeAt?: bigint): Steps<BatchPark | undefined> {
  try {
    yield { inj, name: 'socketpair', args: [AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pollfd] };
  } catch (e) {
    if (e instanceof InjectError) return undefined;
    throw e;
  }
  const b = processVmReadv(inj.pid, pollfd, 8);
  const [taskFd, other] = [readI32(b, 0), readI32(b, 4)];
  held.task.push(taskFd, other);
  try {
    const pidfd = pidfdOpen(inj.pid);
    try { held.own = pidfdGetfd(pidfd, other); } finally { closeSync(pidfd); }
  } catch { /* no copy: no park */ }
  if (closeAt === undefined) {
    yield { inj, name: 'close', args: [other] };
    held.task.pop();
  }
  const pfd = Buffer.alloc(PARK_BYTES);
  pollfdAt(pfd, 0, taskFd);
  if (held.own < 0 || processVmWritev(inj.pid, pollfd, pfd) !== PARK_BYTES) {
    yield* closeParkSteps(inj, held);
    return undefined;
  }
  return { code, pollfd, taskFd, fd: held.own, ...(closeAt !== undefined ? { closeFirst: { fd: other, at: closeAt, launched: false } } : {}) };
}

/** A struct pollfd waiting for `fd` to be readable, at `off` of `b`. */
export function pollfdAt(b: Buffer, off: number, fd: number): void {
  writeI32(b, fd, off);
  writeI16(b, POLLIN, off + 4);
}

/** Closes cryo's end and the task's ones (injected closes, as steps); what is closed is forgotten. */
export function* closeParkSteps(inj: Injector, held: ParkFds): Steps<void> {
  if (held.own >= 0) closeSync(held.own);
  held.own = -1;
  while (held.task.length > 0) {
    yield { inj, name: 'close', args: [held.task[held.task.length - 1]!] };
    held.task.pop();
  }
}

/** Where the runner's byte is read into (one buffer for every wait: cryo waits for one task at a time). */
const byteBuf = Buffer.alloc(64);
/** Whether the runner's byte came (read, so that the next batch waits for its own). */
const byteCame = (fd: number): boolean => bytesCame(fd, byteBuf) > 0;

/**
 * The longest cryo waits blocked in ppoll for a byte before it looks at the task again: the byte
 * wakes it at once; a stop on the way instead (a fault, a group stop to resume) is seen this late.
 */
const LOOK_EVERY_MS = 5;

/**
 * Waits until the runner started in task `pid` (resumed with PTRACE_CONT) has sent its byte, then
 * stops it with PTRACE_INTERRUPT where it waits. Event stops on the way (a SIGSTOP's group stop) are
 * resumed, as for a breakpoint-ended batch; any other stop or the task's end is an error.
 */
export function waitParked(pid: number, park: BatchPark, timeoutMs: number): void {
  const deadline = performance.now() + timeoutMs;
  while (!byteCame(park.fd)) {
    const r = waitpid(pid, WNOHANG | __WALL);
    if (r.pid !== 0) {
      if (stopped(r.status) && ptraceEvent(r.status) !== 0) {
        cont(pid);
        continue;
      }
      throw new InjectError('UNEXPECTED_STOP', `task ${pid} ${describeStatus(r.status)} instead of finishing cryo's batch of system calls`);
    }
    const left = deadline - performance.now();
    if (left <= 0) {
      // Stopped where it is, so that the undo list can put its registers back.
      interrupt(pid);
      waitForStop(pid, { timeoutMs });
      throw new InjectError('UNEXPECTED_STOP', `task ${pid} did not finish cryo's batch of system calls within ${timeoutMs} ms`);
    }
    // Blocked until the byte comes, not polling: on a loaded host a poll's sleep outlasts the batch.
    pollFd(park.fd, POLLIN, Math.min(LOOK_EVERY_MS, left));
  }
  interrupt(pid);
  const st = waitForStop(pid, { timeoutMs }).status;
  if (ptraceEvent(st) !== PTRACE_EVENT_STOP) {
    throw new InjectError('UNEXPECTED_STOP', `task ${pid} ${describeStatus(st)} instead of waiting at the end of cryo's batch of system calls`);
  }
}

/** How many bytes wait on cryo's end `fd` (read, so that the next batches wait for their own); 0 for none. */
function bytesCame(fd: number, buf: Buffer): number {
  try {
    const n = Number(rawSyscall('recvfrom', fd, buf, buf.length, MSG_DONTWAIT, 0, 0));
    if (n === 0) throw new InjectError('UNEXPECTED_STOP', "the task's end of cryo's batch socket closed during a batch");
    return n;
  } catch (e) {
    if (e instanceof SysError && e.code === 'EAGAIN') return 0;
    throw e;
  }
}

/**
 * waitParked for threads `pids` whose runners share the socket of cryo's end `fd` (each parked on a
 * descriptor of its own of the task's end): waits until each has sent its byte, blocked in ppoll
 * (the threads run meanwhile, on every CPU), then stops each where it waits. A thread that stops
 * otherwise, or a byte missing after `timeoutMs`, is an error once every thread is stopped.
 */
export function waitParkedAll(pids: readonly number[], fd: number, timeoutMs: number): void {
  const deadline = performance.now() + timeoutMs;
  const buf = Buffer.alloc(Math.max(64, pids.length));
  let missing = pids.length;
  while ((missing -= bytesCame(fd, buf)) > 0) {
    if (performance.now() >= deadline) {
      stopAll(pids);
      throw new InjectError('UNEXPECTED_STOP', `${missing} of ${pids.length} threads of task ${pids[0]} did not finish cryo's batches of system calls within ${timeoutMs} ms`);
    }
    if (pollFd(fd, POLLIN, Math.min(LOOK_EVERY_MS, Math.max(deadline - performance.now(), 0))) !== 0) continue;
    // No byte for a while: a thread may have stopped on the way (a fault, a group stop).
    for (const pid of pids) {
      const w = waitpid(pid, WNOHANG | __WALL);
      if (w.pid === 0) continue;
      if (stopped(w.status) && ptraceEvent(w.status) !== 0) {
        cont(pid);
        continue;
      }
      stopAll(pids.filter((p) => p !== pid));
      throw new InjectError('UNEXPECTED_STOP', `task ${pid} ${describeStatus(w.status)} instead of finishing cryo's batch of system calls`);
    }
  }
  for (const pid of pids) interrupt(pid);
  for (const pid of pids) {
    const st = waitForStop(pid, { timeoutMs }).status;
    if (ptraceEvent(st) !== PTRACE_EVENT_STOP) {
      stopAll(pids.slice(pids.indexOf(pid) + 1), false);
      throw new InjectError('UNEXPECTED_STOP', `task ${pid} ${describeStatus(st)} instead of waiting at the end of cryo's batch of system calls`);
    }
  }
}

/**
 * Stops each of `pids` (running cryo's code: `interrupt`, or already asked to) where it is, for the
 * undo list to put its registers back; one that ended or does not stop is left (the error already
 * on its way says why).
 */
export function stopAll(pids: readonly number[], interruptFirst = true): void {
  if (interruptFirst) {
    for (const pid of pids) {
      try { interrupt(pid); } catch { /* gone, or stopped already */ }
    }
  }
  for (const pid of pids) {
    try { waitForStop(pid, { timeoutMs: 1000 }); } catch { /* see above */ }
  }
}
