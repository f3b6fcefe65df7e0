// io_uring instances (the ring descriptor, type EXT in files.img so that crit lists it; the ring
// itself in cryo-io-uring.img). Dump reads the kernel's view in fdinfo and copies the mapped rings;
// it refuses a ring with requests in flight (the task runs on). Restore sets up a new ring in the
// task, brings the kernel's indexes to the dumped ones with no-op requests, maps the rings where
// they were and puts their contents back (src/files/io-uring-ring.ts).
import { existsSync, readFileSync } from 'node:fs';
import type { DumpFd, FdKind } from './kind.js';
import type { FileTable } from '../shared/file-table.js';
import type { MessageValue } from '../images/value.js';
import type { Vma } from '../proc/index.js';
import { listFds, procGone, readComm, readFdLink, readIoUringFdinfo, readTaskIds, type IoUringFdinfo } from '../proc/index.js';
import { KCMP_FILE, addressOf, errnoName, kcmp, processVmReadv, rawSyscall, sleepSync, SysError } from '../sys/index.js';
import { readCryoIoUring, type IoUringImage } from '../images/cryo-io-uring.js';
import { DumpError } from '../shared/dump-error.js';
import { RestoreError } from '../shared/restore-error.js';
import { VMA } from '../shared/vma-kinds.js';
import { isAnon } from './anon.js';
import {
  ENTER_EXT_ARG, ENTER_GETEVENTS, ENTER_SQ_WAKEUP, ENTER_REGISTERED_RING, RINGFD_REG_MAX, GETEVENTS_ARG_SIZE, REGISTER_BUFFERS, REGISTER_ENABLE_RINGS, REGISTER_EVENTFD, REGISTER_FILES, REGISTER_PERSONALITY, REGISTER_PROBE,
  REGISTER_RESTRICTIONS, SETUP, opcodeName, UNREGISTER_BUFFERS, UNREGISTER_EVENTFD, UNREGISTER_FILES, UNREGISTER_IOWQ_AFF, UNREGISTER_PERSONALITY,
} from './io-uring-abi.js';
import { writeU64 } from '../sys/native-endian.js';
import { registerFiles, restoreRing } from './io-uring-ring.js';
import { findRegisteredEventfd, hasEventfd, registerEventfd } from './io-uring-eventfd.js';
import { refuseProvidedBuffers, statusFromCryo, statusInThread } from './io-uring-pbuf.js';
import { ringLayout } from './io-uring-layout.js';
import { failedWith, personalityIds, type RingCall, type RingCalls } from './io-uring-personality.js';

export const IO_URING_DISABLED_SYSCTL = '/proc/sys/kernel/io_uring_disabled';

/** A mapping of an io_uring ring (its SQ ring, CQ ring or SQE array). */
export const isRingVma = (v: Vma): boolean => v.name === 'anon_inode:[io_uring]';

/** The memory dump found a ring mapping: its descriptor's dump gives it the ring's file id and copies it. */
export function noteRingVma(table: FileTable, pid: number, v: Vma, entry: MessageValue): void {
  if (table.ringVmas.length === 0) {
    table.whenTreeDumped(() => {
      const lost = table.ringVmas.find((r) => BigInt(r.entry.shmid as bigint) === 0n);
      if (lost) throw new DumpError('UNSUPPORTED', `task ${lost.pid} maps an io_uring ring at 0x${lost.start.toString(16)} whose descriptor it does not hold (closed, or another process's): cryo cannot dump that`);
    });
  }
  table.ringVmas.push({ pid, ino: v.inode, start: v.start, entry, data: Buffer.alloc(0) });
}

const sameIndexes = (a: IoUringFdinfo, b: IoUringFdinfo) => a.sqHead === b.sqHead && a.sqTail === b.sqTail
  && a.cqHead === b.cqHead && a.cqTail === b.cqTail && a.cachedSqHead === b.cachedSqHead && a.cachedCqTail === b.cachedCqTail;

/** Whether the process has an io_uring SQPOLL thread (iou-sqp-N). */
function hasSqpollThread(pid: number): boolean {
  return readTaskIds(pid).some((t) => { try { return readComm(pid, t).startsWith('iou-sqp'); } catch (e) { if (procGone(e)) return false; throw e; } });
}

/** SQPOLL's fdinfo line is -1 when the kernel could not take the ring's lock: read again while the process has an SQPOLL thread. */
function readSettled(pid: number, fd: number): IoUringFdinfo {
  let info = readIoUringFdinfo(pid, fd);
  for (let i = 0; i < 50 && info.sqThread === -1 && hasSqpollThread(pid); i++) {
    sleepSync(2);
    info = readIoUringFdinfo(pid, fd);
  }
  return info;
}

/** What in the ring the kernel holds besides its memory, refused with the reason (undefined: nothing). */
function inFlight(info: IoUringFdinfo, sqpoll: boolean): string | undefined {
  const polls = () => {
    const n = new Map<string, number>();
    for (const op of info.pollList) n.set(opcodeName(op), (n.get(opcodeName(op)) ?? 0) + 1);
    return [...n].map(([name, k]) => (k > 1 ? `${k} x ${name}` : name)).join(', ');
  };
  const pending = (info.sqHead - info.cqTail) | 0;
  if (info.pollList.length > 0) {
    const others = pending - info.pollList.length;
    return `${pending > info.pollList.length ? pending : info.pollList.length} request(s) in flight: ${info.pollList.length} waiting on a poll (${polls()})${others > 0 ? `, ${others} other(s)` : ''}`;
  }
  if (info.overflow > 0) return `${info.overflow} completion(s) overflowed the CQ ring`;
  if (info.cachedCqTail !== info.cqTail) return `completions not yet published (CqTail ${info.cqTail}, cached ${info.cachedCqTail})`;
  if (info.cachedSqHead !== info.sqHead) return `submissions under way (SqHead ${info.sqHead}, cached ${info.cachedSqHead})`;
  if (pending > 0) return `${pending} request(s) in flight (submitted, not completed: SqHead ${info.sqHead}, CqTail ${info.cqTail}; fdinfo names the opcodes of polled ones only)`;
  if (sqpoll && info.sqTail !== info.sqHead) return `${(info.sqTail - info.sqHead) >>> 0} queued SQE(s) its SQPOLL thread is about to submit`;
  return undefined;
}

/** How long the dump waits for a ring's requests in flight to complete. */
export const IO_URING_WAIT_MS = 1000;
const BUSY_ADVICE = 'cryo dumps io_uring only with no request in flight; dump again once the program has reaped its completions, or have it cancel those requests first (IORING_OP_ASYNC_CANCEL)';

/**
 * The ring's fdinfo once no request is in flight: requests an io_uring worker thread (iou-wrk)
 * runs complete while the task is frozen, and cryo waits for them up to IO_URING_WAIT_MS. Refused
 * at once: requests waiting on a poll (their completion runs in the frozen task), and anything
 * still in flight at the end of the wait, naming the ring and what is in flight.
 */
function settledIdle(pid: number, fd: number, own: RingCall, why: string): IoUringFdinfo {
  const end = Date.now() + IO_URING_WAIT_MS;
  // DEFER_TASKRUN (only its thread may wait: EEXIST to any other): every completion runs in the task.
  const inTask = failedWith(own('io_uring_enter', 0, 0, ENTER_GETEVENTS, 0, 0), 'EEXIST');
  for (;;) {
    const info = readSettled(pid, fd);
    const busy = inFlight(info, info.sqThread !== -1 || (info.sqTail !== info.sqHead && hasSqpollThread(pid)));
    if (!busy) return info;
    if (info.pollList.length > 0 || inTask) throw new DumpError('BUSY', `${why} has ${busy}, which complete${inTask ? ' (IORING_SETUP_DEFER_TASKRUN)' : ''} only when the task runs: ${BUSY_ADVICE}`);
    if (Date.now() > end) throw new DumpError('BUSY', `${why} still has ${busy} after cryo waited ${IO_URING_WAIT_MS / 1000} s for them: ${BUSY_ADVICE}`);
    sleepSync(10);
  }
}


/** Calls from cryo on its own copy of the descriptor. */
function cryoCall(stolen: number): RingCall {
  return (name, ...args) => {
    try {
      return BigInt(rawSyscall(name, stolen, ...args));
    } catch (e) {
      if (e instanceof SysError) return BigInt(-e.errno);
      throw e;
    }
  };
}

/**
 * Register opcodes with arguments each rejects before doing anything (EINVAL or EFAULT). A
 * restricted ring (IORING_REGISTER_RESTRICTIONS) answers EACCES instead for each opcode it does not allow.
 */
const REJECTED_REGISTERS: [op: number, arg: number, nr: number][] = [
  [REGISTER_BUFFERS, 0, 0], [UNREGISTER_BUFFERS, 1, 0], [REGISTER_FILES, 0, 0], [UNREGISTER_FILES, 1, 0],
  [REGISTER_EVENTFD, 0, 0], [UNREGISTER_EVENTFD, 1, 0], [REGISTER_PROBE, 0, 0], [REGISTER_PERSONALITY, 1, 0],
  [UNREGISTER_PERSONALITY, 1, 0], [REGISTER_ENABLE_RINGS, 1, 0], [UNREGISTER_IOWQ_AFF, 1, 0],
];

/** Refuses a restricted ring: what it allows (SQE opcodes and flags) shows nowhere, so it cannot be made again. */
function refuseRestricted(call: RingCall, why: string): void {
  const denied = REJECTED_REGISTERS.filter(([op, arg, nr]) => failedWith(call('io_uring_register', op, arg, nr), 'EACCES')).map(([op]) => op);
  if (denied.length > 0) throw new DumpError('UNSUPPORTED', `${why} has restrictions registered (IORING_REGISTER_RESTRICTIONS: register opcodes ${denied.join(', ')} refused with EACCES); what they allow shows nowhere, so cryo cannot restore them`);
}

/** DEFER_TASKRUN (a SINGLE_ISSUER ring's): only its submitter task may wait, any other gets EEXIST (no effect on the ring). */
const defersTaskrun = (own: RingCall): boolean => failedWith(own('io_uring_enter', 0, 0, ENTER_GETEVENTS, 0, 0), 'EEXIST');

/**
 * IORING_SETUP_IOPOLL (for a ring without SQPOLL, whose submitter polls): with its CQ ring made to
 * look empty (see layoutFlags), io_uring_enter asked for a completion with a timeout of zero
 * returns 0 at once on a polled ring with nothing on its poll list, and times out (ETIME) on any
 * other. Neither takes or posts anything.
 */
function polled(own: RingCall, why: string): boolean {
  const ts = Buffer.alloc(16);
  const arg = Buffer.alloc(GETEVENTS_ARG_SIZE);
  writeU64(arg, addressOf(ts), 16);
  for (let i = 0; i < 3; i++) {
    const r = own('io_uring_enter', 0, 1, ENTER_GETEVENTS | ENTER_EXT_ARG, addressOf(arg), GETEVENTS_ARG_SIZE);
    if (r >= 0n) return true;
    if (failedWith(r, 'ETIME')) return false;
    if (!failedWith(r, 'EINTR')) throw new DumpError('FAILED', `${why}: ${errnoName(Number(-r))} from io_uring_enter while cryo looked whether it polls (IORING_SETUP_IOPOLL)`);
  }
  throw new DumpError('FAILED', `${why}: io_uring_enter interrupted three times while cryo looked whether it polls (IORING_SETUP_IOPOLL)`);
}

/**
 * The thread a SINGLE_ISSUER ring belongs to: io_uring_register answers every other task EEXIST
 * before it looks at its arguments (a probe without a buffer does nothing else).
 */
function submitterOf(c: DumpFd, why: string): number {
  const own = c.threads.filter((tid) => !failedWith(c.inThread(tid, 'io_uring_register', c.fd, REGISTER_PROBE, 0, 0), 'EEXIST'));
  if (own.length !== 1) throw new DumpError('UNSUPPORTED', `${why} was set up with IORING_SETUP_SINGLE_ISSUER and belongs to no thread of the task (to another process, or a thread that exited): cryo cannot restore a ring only that task may use`);
  return own[0]!;
}

const ringFdsLooked = new WeakMap<FileTable, Set<number>>();

/**
 * Rings a thread registered (IORING_REGISTER_RING_FDS, for io_uring_enter with
 * IORING_ENTER_REGISTERED_RING; a REGISTERED_FD_ONLY ring has nothing else): no file shows them.
 * io_uring_enter on each index with nothing to submit or wait for answers EINVAL (no io_uring
 * task context) or EBADF (an empty slot), anything else for a registered ring. Refused, naming it.
 */
function refuseRegisteredRings(c: DumpFd): void {
  const looked = ringFdsLooked.get(c.table) ?? new Set<number>();
  ringFdsLooked.set(c.table, looked);
  if (looked.has(c.pid)) return;
  looked.add(c.pid);
  for (const tid of c.threads) {
    for (let i = 0; i < RINGFD_REG_MAX; i++) {
      const r = c.inThread(tid, 'io_uring_enter', i, 0, 0, ENTER_REGISTERED_RING, 0, 0);
      if (r >= 0n || !(failedWith(r, 'EINVAL') || failedWith(r, 'EBADF'))) {
        throw new DumpError('UNSUPPORTED', `thread ${tid} of task ${c.pid} has an io_uring ring registered at index ${i} (IORING_REGISTER_RING_FDS, for IORING_ENTER_REGISTERED_RING): cryo cannot restore that registration yet; have the program unregister it (io_uring_unregister_ring_fd) before the dump`);
      }
    }
  }
}

/** The CPU an SQPOLL thread is bound to (IORING_SETUP_SQ_AFF), or undefined. */
function sqThreadCpu(pid: number, tid: number): number | undefined {
  try {
    const m = /^Cpus_allowed_list:\s*(\d+)\s*$/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The registered files, each as the task's descriptor of the same open file. fdinfo names a slot's
 * file only by its path (as /proc/PID/fd shows it): the descriptor showing that path is the file
 * when every descriptor showing it is one open file (kcmp); a file only the ring holds, or a name
 * several open files share (a pipe's two ends), is refused.
 */
function registeredFiles(pid: number, ringFd: number, info: IoUringFdinfo, why: string): IoUringImage['files'] {
  if (info.userFiles === 0) return [];
  const links = new Map<number, string>();
  for (const fd of listFds(pid)) {
    try { links.set(fd, readFdLink(pid, fd)); } catch (e) { if (!procGone(e)) throw e; /* closed meanwhile: a frozen task closes nothing */ }
  }
  const files: IoUringImage['files'] = [];
  for (const [index, name] of [...info.files].sort(([a], [b]) => a - b)) {
    const fds = [...links].filter(([fd, l]) => l === name && fd !== ringFd).map(([fd]) => fd);
    if (fds.length === 0) throw new DumpError('UNSUPPORTED', `${why} has registered file slot ${index} (${name}) whose file no descriptor of the task holds: cryo cannot dump a file only the ring holds`);
    const other = fds.find((fd) => kcmp(pid, pid, KCMP_FILE, fds[0]!, fd) !== 0);
    if (other !== undefined) throw new DumpError('UNSUPPORTED', `${why} has registered file slot ${index} (${name}), a name fds ${fds[0]} and ${other} of the task show for two open files: cryo cannot tell which one is registered`);
    files.push({ index, fd: fds[0]!, path: name });
  }
  return files;
}

export const ioUringKind: FdKind = {
  type: 'EXT', field: 'ext', name: 'an io_uring instance',
  matches: (c) => isAnon(c, 'io_uring'),
  dump(c) {
    const why = `the io_uring instance at fd ${c.fd} of task ${c.pid}`;
    refuseRegisteredRings(c);
    const own = cryoCall(c.stolen);
    const info = settledIdle(c.pid, c.fd, own, why);
    const sqpoll = info.sqThread !== -1;
    const files = registeredFiles(c.pid, c.fd, info, why);
    const bufs = [...info.bufs].filter(([, b]) => b.len > 0).map(([index, b]) => ({ index, addr: b.addr, len: b.len }));
    // A ring set up disabled and not enabled yet takes no request: its flags show nowhere.
    if (failedWith(own('io_uring_enter', 0, 0, 0, 0, 0), 'EBADFD')) {
      const restricted = failedWith(own('io_uring_register', REGISTER_RESTRICTIONS, 0, 0), 'EBUSY');
      throw new DumpError('UNSUPPORTED', `${why} is disabled (IORING_SETUP_R_DISABLED, not enabled yet${restricted ? ', restrictions registered' : ''}): cryo cannot see the setup it will run with; dump again once the program has enabled it`);
    }
    // Only a SINGLE_ISSUER ring's own thread may register on it: every other task gets EEXIST.
    const singleIssuer = failedWith(own('io_uring_register', REGISTER_PROBE, 0, 0), 'EEXIST');
    const submitterTid = singleIssuer ? submitterOf(c, why) : undefined;
    const ringThread = submitterTid ?? c.threads[0]!;
    const inRingThread: RingCall = (name, ...args) => c.inThread(ringThread, name, c.fd, ...(args as (bigint | number)[]));
    const call = submitterTid !== undefined ? inRingThread : own;
    refuseRestricted(call, why);
    // 65536 calls in batches in a thread of the task (a SINGLE_ISSUER ring's own). Without a batch
    // runner: from cryo, or, on a SINGLE_ISSUER ring (a minute one by one), not looked for.
    const many: RingCalls = (args) => c.eachInThread(ringThread, Buffer.alloc(0), () => args.map((a) => ({ name: 'io_uring_register', args: [c.fd, ...a] })));
    const inThread = statusInThread(c, ringThread);
    refuseProvidedBuffers(submitterTid === undefined ? () => inThread() ?? statusFromCryo((op, arg, nr) => own('io_uring_register', op, arg, nr))() : inThread, why);
    let flags = singleIssuer ? SETUP.SINGLE_ISSUER | (defersTaskrun(own) ? SETUP.DEFER_TASKRUN : 0) : 0;
    const withEventfd = hasEventfd(call('io_uring_register', REGISTER_EVENTFD, 0, 1), why);
    let cpu: number | undefined;
    if (sqpoll) {
      flags |= SETUP.SQPOLL;
      cpu = sqThreadCpu(c.pid, info.sqThread);
      if (cpu !== undefined) flags |= SETUP.SQ_AFF;
    }
    if (info.cqEntries !== 2 * info.sqEntries) flags |= SETUP.CQSIZE;
    // What changes the ring's memory layout, and the SQ flags word's TASKRUN bit.
    const probePoll = !sqpoll && !(flags & SETUP.DEFER_TASKRUN);
    const layout = ringLayout({
      pid: c.pid, fd: c.fd, stolen: c.stolen, info, sqpoll, why,
      ...(probePoll ? { polled: () => polled(own, why) } : {}),
      ...(sqpoll ? { wake: () => { own('io_uring_enter', 0, 0, ENTER_SQ_WAKEUP, 0, 0); } } : {}),
    });
    flags |= layout.flags;
    if (flags & SETUP.DEFER_TASKRUN) {
      // Invisible on such a ring, and harmless when added: TASKRUN_FLAG only sets a hint bit the
      // program may read (it must enter the kernel for its completions anyway), and COOP_TASKRUN
      // changes nothing where all task work is the ring's own.
      flags |= SETUP.TASKRUN_FLAG | SETUP.COOP_TASKRUN;
    } else if (flags & SETUP.TASKRUN_FLAG) {
      flags |= SETUP.COOP_TASKRUN; // the kernel takes TASKRUN_FLAG only with one of the two
    }
    const ino = BigInt(c.st.ino);
    const maps = c.table.ringVmas.filter((v) => v.pid === c.pid && v.ino === ino);
    if (maps.length === 0) throw new DumpError('UNSUPPORTED', `${why} has no ring mapped in the task (IORING_SETUP_NO_MMAP, or unmapped): cryo cannot dump it`);
    for (const m of maps) {
      m.entry.shmid = BigInt(c.id);
      const len = Number(BigInt(m.entry.end as bigint) - m.start);
      m.data = processVmReadv(c.pid, m.start, len);
      if (m.data.length !== len) throw new DumpError('UNSUPPORTED', `${why}: cannot read its ring at 0x${m.start.toString(16)}`);
    }
    // The copies must match the kernel's indexes: the ring must not have moved while they were made.
    const again = readIoUringFdinfo(c.pid, c.fd);
    if (!sameIndexes(info, again)) throw new DumpError('BUSY', `${why} changed while it was dumped (requests in flight): dump again once the program has reaped its completions`);
    // Last, since looking moves the kernel's cursor of personality ids (see personalityIds).
    // In the ring's thread: a personality holds the credentials of the task that registers it, and
    // one of cryo's (root's) left on the ring by a cryo killed meanwhile would let the task act as root.
    const pers = info.personalities.length > 0 ? info.personalities : personalityIds(inRingThread, many, why);
    if (pers.length > 0) throw new DumpError('UNSUPPORTED', `${why} has registered personalities (IORING_REGISTER_PERSONALITY, ids ${pers.slice(0, 8).join(', ')}${pers.length > 8 ? ', ...' : ''}): the credentials they stand for show nowhere, so cryo cannot restore them`);
    // After the copies, which it must not be in: it posts a completion (and takes it back).
    const eventfd = withEventfd ? findRegisteredEventfd(c, info, (flags & SETUP.DEFER_TASKRUN) !== 0, why) : undefined;
    const ring: IoUringImage = {
      id: c.id, sqEntries: info.sqEntries, cqEntries: info.cqEntries, flags,
      ...(cpu !== undefined ? { sqThreadCpu: cpu } : {}),
      sqHead: info.sqHead, sqTail: info.sqTail, cqHead: info.cqHead, cqTail: info.cqTail,
      maps: maps.map((m) => ({ start: m.start, data: m.data })), nrBufs: info.userBufs, bufs, nrFiles: info.userFiles, files,
      ...(submitterTid !== undefined ? { submitterTid } : {}),
      ...(layout.sqThreadIdle !== undefined ? { sqThreadIdle: layout.sqThreadIdle } : {}),
      ...(eventfd !== undefined ? { eventfd: eventfd.fd, ...(eventfd.async ? { eventfdAsync: true } : {}) } : {}),
    };
    c.table.ioUrings.push(ring);
    return { id: c.id, fown: c.fown };
  },
  check(img, entry, why) {
    if (!existsSync(IO_URING_DISABLED_SYSCTL)) throw new RestoreError('UNSUPPORTED', `${why} is an io_uring instance and this kernel has no io_uring (no ${IO_URING_DISABLED_SYSCTL}): restore on a kernel built with CONFIG_IO_URING`);
    const disabled = readFileSync(IO_URING_DISABLED_SYSCTL, 'utf8').trim();
    if (disabled === '2') throw new RestoreError('UNSUPPORTED', `${why} is an io_uring instance and io_uring is disabled on this machine (sysctl kernel.io_uring_disabled=2): set it to 0 to restore`);
    const ring = ringsOf(img.dir).get(Number(entry.id));
    if (!ring) throw new RestoreError('IMAGE_INCONSISTENT', `${why}: files.img names an external file (EXT ${String(entry.id)}) that cryo-io-uring.img does not hold: cryo cannot restore it`);
    const held = new Set(img.fdinfo.map((f) => Number(f.fd)));
    if (ring.eventfd !== undefined && img.fdinfo.find((f) => Number(f.fd) === ring.eventfd)?.type !== 'EVENTFD') {
      throw new RestoreError('IMAGE_INCONSISTENT', `${why}: its registered eventfd is fd ${ring.eventfd}, which is no eventfd of the task in the fdinfo image: cryo cannot restore it`);
    }
    const lost = ring.files.find((f) => !held.has(f.fd) || f.index >= ring.nrFiles);
    if (lost) throw new RestoreError('IMAGE_INCONSISTENT', `${why}: its registered file slot ${lost.index} names fd ${lost.fd}, which the task's fdinfo image does not hold (or a slot beyond its table of ${ring.nrFiles}): cryo cannot restore it`);
    if (ring.submitterTid !== undefined && !img.threads.some((t) => t.tid === ring.submitterTid)) {
      throw new RestoreError('IMAGE_INCONSISTENT', `${why}: its ring belongs to thread ${ring.submitterTid} (IORING_SETUP_SINGLE_ISSUER), which is no thread of the task in the images: cryo cannot restore it`);
    }
    const vmas = ringVmasOf(img.mm.vmas as MessageValue[] | undefined, ring.id);
    for (const m of ring.maps) {
      const v = vmas.find((x) => BigInt(x.start as bigint) === m.start);
      if (!v || BigInt(v.end as bigint) - m.start !== BigInt(m.data.length)) throw new RestoreError('IMAGE_INCONSISTENT', `${why}: its ring copy at 0x${m.start.toString(16)} matches no mapping of mm.img`);
    }
  },
  restore(c) {
    const ring = c.session.state('io-uring', () => ringsOf(c.ctx.img.dir)).get(Number(c.entry.id))!;
    const fd = restoreRing(c.ctx, ring, ringVmasOf(c.ctx.img.mm.vmas as MessageValue[] | undefined, ring.id), c.why);
    // The registered files are the task's descriptors: registered once every one is in place.
    if (ring.nrFiles > 0) c.session.later(() => registerFiles(c.ctx, c.target, ring, c.why));
    // The eventfd too, once it is in place; after the no-ops, which it must not count.
    if (ring.eventfd !== undefined) c.session.later(() => registerEventfd(c.ctx, c.target, ring, c.why));
    return fd;
  },
};

/** mm.img's mappings of the ring with file id `id`. */
function ringVmasOf(vmas: MessageValue[] | undefined, id: number): MessageValue[] {
  return (vmas ?? []).filter((v) => (Number(v.status) & VMA.IO_URING) !== 0 && Number(v.shmid) === id);
}

function ringsOf(dir: string): Map<number, IoUringImage> {
  try {
    return readCryoIoUring(dir);
  } catch (e) {
    throw new RestoreError('IMAGE_INCONSISTENT', (e as Error).message);
  }
}
