// The eventfd registered on a ring (IORING_REGISTER_EVENTFD) shows in no file: the kernel signals
// it, adding 1, for each completion it posts. Dump posts one completion to the ring (from cryo,
// IORING_REGISTER_SEND_MSG_RING), sees which of the task's eventfds counted it, and takes both
// back at once: the CQ head moves past the posted completion (the ring's CQ was empty, so the
// program sees an empty ring) and the eventfd is read down to its count. An eventfd registered
// async counts only completions an io_uring worker thread posts: when none counted the first,
// cryo posts a second from a worker (a MSG_RING with IOSQE_ASYNC on a ring of its own). The
// ring's bytes and indexes were copied before, so a restored ring has the dumped ones.
import { closeSync, readSync, writeSync } from 'node:fs';
import type { DumpFd } from './kind.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import type { IoUringFdinfo } from '../proc/io-uring-fdinfo.js';
import type { IoUringImage } from '../images/cryo-io-uring.js';
import { listFds, readFdinfo, readFdLink, readIoUringFdinfo } from '../proc/index.js';
import { KCMP_FILE, addressOf, errnoName, kcmp, pidfdGetfd, pidfdOpen, processVmReadv, processVmWritev, rawSyscall, SysError } from '../sys/index.js';
import { DumpError } from '../shared/dump-error.js';
import { RestoreError } from '../shared/restore-error.js';
import { readI32, readU32, readU64, writeI32, writeU32, writeU64 } from '../sys/native-endian.js';
import { taskCall } from './anon.js';
import {
  CQ_EVENTFD_DISABLED, CQE_SIZE, ENTER_GETEVENTS, OFF_SQES, OFF_SQ_RING, OP_MSG_RING, PARAMS_SIZE, REGISTER_EVENTFD, REGISTER_EVENTFD_ASYNC, REGISTER_SEND_MSG_RING, SQE_ASYNC, SQE_SIZE, ringOffsets,
} from './io-uring-abi.js';
import { mapOwn, offsetsFor } from './io-uring-layout.js';

/** Where in cryo's scratch area the registration's argument goes (after the ring's own). */
const SCRATCH_AT = 1536;
const EVENTFD_LINK = 'anon_inode:[eventfd]';

/**
 * Whether the ring has an eventfd registered: registering another fails with EBUSY before the
 * kernel reads its argument, and a ring without one fails with EFAULT on the null argument.
 */
export function hasEventfd(result: bigint, why: string): boolean {
  if (result < 0n && errnoName(Number(-result)) === 'EBUSY') return true;
  if (result < 0n && errnoName(Number(-result)) === 'EFAULT') return false;
  throw new DumpError('FAILED', `${why}: ${result < 0n ? errnoName(Number(-result)) : `result ${result}`} from IORING_REGISTER_EVENTFD with no argument, where EBUSY or EFAULT was expected`);
}

/** The task's eventfds and their counts. */
function eventfdCounts(pid: number): Map<number, bigint> {
  const counts = new Map<number, bigint>();
  for (const fd of listFds(pid)) {
    try {
      if (readFdLink(pid, fd) !== EVENTFD_LINK) continue;
      const e = readFdinfo(pid, fd).eventfd;
      if (e) counts.set(fd, e.count);
    } catch { /* a frozen task closes nothing */ }
  }
  return counts;
}

/** Reads the eventfd at `fd` of the task down by one (its copy shares the open file): a semaphore's read takes 1, a counter's all. */
function takeOne(pid: number, fd: number, was: bigint): void {
  const pidfd = pidfdOpen(pid);
  let copy: number;
  try { copy = pidfdGetfd(pidfd, fd); } finally { closeSync(pidfd); }
  try {
    const b = Buffer.alloc(8);
    readSync(copy, b, 0, 8, null);
    // A counter's read took was + 1 (write was back); a semaphore's took 1, which is all there is to take.
    if (readU64(b, 0) === was + 1n && was > 0n) {
      writeU64(b, was, 0);
      writeSync(copy, b, 0, 8);
    }
  } finally {
    closeSync(copy);
  }
}

/** A MSG_RING request to the ring `target` (cryo's copy of its descriptor): a completion with user_data 0 and res 0. */
function msgRingSqe(target: number, flags = 0): Buffer {
  const sqe = Buffer.alloc(SQE_SIZE);
  sqe[0] = OP_MSG_RING;
  sqe[1] = flags;
  writeI32(sqe, target, 4); // IORING_MSG_DATA
  return sqe;
}

/** Posts the ring a completion from cryo, not from a worker thread (IORING_REGISTER_SEND_MSG_RING, Linux 6.13). */
function postFromCryo(target: number): void {
  rawSyscall('io_uring_register', -1, REGISTER_SEND_MSG_RING, msgRingSqe(target), 1);
}

/** Posts the ring a completion from an io_uring worker thread: a ring of cryo's own runs a MSG_RING to it with IOSQE_ASYNC. */
function postFromWorker(target: number): void {
  const p = Buffer.alloc(PARAMS_SIZE);
  const own = Number(rawSyscall('io_uring_setup', 1, addressOf(p)));
  try {
    const off = ringOffsets(p);
    // One mapping holds both rings (IORING_FEAT_SINGLE_MMAP, every kernel with MSG_RING).
    const len = Math.max(off.sq.array + 4, off.cq.cqes + 2 * CQE_SIZE);
    const ring = mapOwn(own, len, OFF_SQ_RING);
    const sqes = mapOwn(own, SQE_SIZE, OFF_SQES);
    try {
      const put = (at: bigint, b: Buffer) => { if (processVmWritev(process.pid, at, b) !== b.length) throw new Error('cannot write cryo\'s own ring'); };
      put(sqes, msgRingSqe(target, SQE_ASYNC));
      put(ring + BigInt(off.sq.array), Buffer.alloc(4));
      const one = Buffer.alloc(4);
      writeU32(one, 1, 0);
      put(ring + BigInt(off.sq.tail), one);
      rawSyscall('io_uring_enter', own, 1, 1, ENTER_GETEVENTS, 0, 0);
      const res = readI32(processVmReadv(process.pid, ring + BigInt(off.cq.cqes) + 8n, 4), 0);
      if (res < 0) throw new SysError(-res, 'IORING_OP_MSG_RING');
    } finally {
      rawSyscall('munmap', ring, len);
      rawSyscall('munmap', sqes, SQE_SIZE);
    }
  } finally {
    closeSync(own);
  }
}

export interface RegisteredEventfd { fd: number; async: boolean }

/**
 * The task's descriptor of the eventfd registered on the ring, and whether it is registered async
 * (see the top of this file). Refused, naming the ring: a DEFER_TASKRUN ring (a completion sent to
 * it is posted by its own thread, which is frozen), completions not reaped (the posted one could
 * not be taken back unseen), eventfd signals the program turned off, and no eventfd of the task
 * counting either completion (held by the ring alone).
 */
export function findRegisteredEventfd(c: DumpFd, info: IoUringFdinfo, deferTaskrun: boolean, why: string): RegisteredEventfd {
  const refuse = (what: string) => new DumpError('UNSUPPORTED', `${why} has an eventfd registered (IORING_REGISTER_EVENTFD) ${what}`);
  if (c.table.options.leaveRunning) throw refuse('and the task is to run on: cryo finds which eventfd by posting the ring a completion, which a task that runs on could see; dump it without --leave-running');
  if (deferTaskrun) throw refuse('on a DEFER_TASKRUN ring: cryo finds which eventfd by posting the ring a completion, which only the ring\'s own thread posts there, and it is frozen; cryo cannot dump it');
  if (info.cqHead !== info.cqTail) throw refuse(`and ${(info.cqTail - info.cqHead) >>> 0} completion(s) not reaped: cryo finds which eventfd by posting the ring a completion, which it can take back unseen only from an empty CQ ring; dump again once the program has reaped its completions`);
  // The counts each probe compares with: every probe gives back what it added.
  const before = eventfdCounts(c.pid);
  if (before.size === 0) throw refuse('and holds no eventfd descriptor: cryo cannot dump an eventfd only the ring holds');
  const off = offsetsFor(info.sqEntries, info.cqEntries, 0, why);
  const len = off.cq.cqes;
  const base = mapOwn(c.stolen, len, OFF_SQ_RING);
  const at = (o: number) => base + BigInt(o);
  let tail = info.cqTail;
  /** Posts one completion, sees which eventfds counted it, and takes both back. */
  const probe = (post: () => void, how: string): number[] => {
    try {
      post();
    } catch (e) {
      if (e instanceof SysError) throw refuse(`and cryo cannot post it a completion ${how} (${errnoName(e.errno)}${how === 'from outside' ? ' from IORING_REGISTER_SEND_MSG_RING, Linux 6.13 and later' : ''}): cryo cannot find which eventfd it is`);
      throw e;
    }
    const after = readIoUringFdinfo(c.pid, c.fd);
    const now = eventfdCounts(c.pid);
    const moved = [...before].filter(([fd, n]) => now.get(fd) === n + 1n).map(([fd]) => fd);
    // Taken back: the posted completion reaped, the eventfd counted down.
    const head = Buffer.alloc(4);
    writeU32(head, after.cqTail, 0);
    processVmWritev(process.pid, at(off.cq.head), head);
    if (moved.length > 0) takeOne(c.pid, moved[0]!, before.get(moved[0]!)!);
    if (after.cqTail !== ((tail + 1) >>> 0)) throw new DumpError('FAILED', `${why}: the completion cryo posted to find its eventfd moved the CQ tail from ${tail} to ${after.cqTail}, not by one`);
    tail = after.cqTail;
    const other = moved.find((fd) => kcmp(c.pid, c.pid, KCMP_FILE, moved[0]!, fd) !== 0);
    if (other !== undefined) throw refuse(`and fds ${moved[0]} and ${other}, two eventfds, both counted cryo's completion (another process wrote one meanwhile): dump again`);
    return moved;
  };
  try {
    const flags = processVmReadv(process.pid, at(off.cq.flags), 4);
    if (flags.length === 4 && (readU32(flags, 0) & CQ_EVENTFD_DISABLED)) throw refuse('with its signals turned off (IORING_CQ_EVENTFD_DISABLED): cryo cannot find which eventfd it is');
    const sync = probe(() => postFromCryo(c.stolen), 'from outside');
    if (sync.length > 0) return { fd: sync[0]!, async: false };
    const async = probe(() => postFromWorker(c.stolen), 'from a worker thread');
    if (async.length > 0) return { fd: async[0]!, async: true };
  } finally {
    rawSyscall('munmap', base, len);
  }
  throw refuse('that counted no completion on any descriptor of the task: the ring alone holds it, and cryo cannot dump that');
}

/** Registers the restored eventfd on the restored ring (async as it was), and checks the kernel has one registered. */
export function registerEventfd(ctx: TaskCtx, fd: number, ring: IoUringImage, why: string): void {
  const arg = Buffer.alloc(4);
  writeI32(arg, ring.eventfd!, 0);
  taskCall(ctx, `${why} (its eventfd, fd ${ring.eventfd})`, 'io_uring_register', fd, ring.eventfdAsync ? REGISTER_EVENTFD_ASYNC : REGISTER_EVENTFD, ctx.put(arg, SCRATCH_AT), 1);
  const r = ctx.raw('io_uring_register', fd, REGISTER_EVENTFD, 0, 1);
  if (!(r < 0n && errnoName(Number(-r)) === 'EBUSY')) throw new RestoreError('FAILED', `the new ring of ${why} shows no registered eventfd after cryo registered fd ${ring.eventfd}`);
}
