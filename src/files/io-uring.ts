// io_uring instances (the ring descriptor, type EXT in files.img so that crit lists it; the ring
// itself in cryo-io-uring.img). Dump reads the kernel's view in fdinfo and copies the mapped rings;
// it refuses a ring with requests in flight (the task runs on). Restore sets up a new ring in the
// task, brings the kernel's indexes to the dumped ones with no-op requests, maps the rings where
// they were and puts their contents back (src/files/io-uring-ring.ts).
import { closeSync, existsSync, readFileSync } from 'node:fs';
import type { DumpFd, FdKind } from './kind.js';
import type { FileTable } from '../shared/file-table.js';
import type { MessageValue } from '../images/value.js';
import type { Vma } from '../proc/index.js';
import { listFds, readComm, readFdLink, readIoUringFdinfo, readTaskIds, type IoUringFdinfo } from '../proc/index.js';
import { KCMP_FILE, errnoName, kcmp, processVmReadv, rawSyscall, SysError } from '../sys/index.js';
import { readCryoIoUring, type IoUringImage } from '../images/cryo-io-uring.js';
import { DumpError } from '../shared/dump-error.js';
import { RestoreError } from '../shared/restore-error.js';
import { VMA } from '../shared/vma-kinds.js';
import { isAnon } from './anon.js';
import { ENTER_GETEVENTS, REGISTER_EVENTFD, REGISTER_PROBE, SETUP, UNREGISTER_EVENTFD } from './io-uring-abi.js';
import { O_CLOEXEC } from '../shared/constants.js';
import { writeI32 } from '../sys/native-endian.js';
import { registerFiles, restoreRing } from './io-uring-ring.js';

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

/** SQPOLL's fdinfo line is -1 when the kernel could not take the ring's lock: read again while the process has an SQPOLL thread. */
function readSettled(pid: number, fd: number): IoUringFdinfo {
  let info = readIoUringFdinfo(pid, fd);
  const sqpoll = () => readTaskIds(pid).some((t) => { try { return readComm(pid, t).startsWith('iou-sqp'); } catch { return false; } });
  for (let i = 0; i < 50 && info.sqThread === -1 && sqpoll(); i++) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    info = readIoUringFdinfo(pid, fd);
  }
  return info;
}

/** What in the ring the kernel holds besides its memory, refused with the reason (undefined: nothing). */
function inFlight(info: IoUringFdinfo, sqpoll: boolean): string | undefined {
  if (info.pollList.length > 0) return `${info.pollList.length} request(s) waiting on a poll (opcodes ${info.pollList.join(', ')})`;
  if (info.overflow > 0) return `${info.overflow} completion(s) overflowed the CQ ring`;
  if (info.cachedCqTail !== info.cqTail) return `completions not yet published (CqTail ${info.cqTail}, cached ${info.cachedCqTail})`;
  if (info.cachedSqHead !== info.sqHead) return `submissions under way (SqHead ${info.sqHead}, cached ${info.cachedSqHead})`;
  const pending = (info.sqHead - info.cqTail) | 0;
  if (pending > 0) return `${pending} request(s) submitted and not completed (SqHead ${info.sqHead}, CqTail ${info.cqTail})`;
  if (sqpoll && info.sqTail !== info.sqHead) return `${(info.sqTail - info.sqHead) >>> 0} queued SQE(s) its SQPOLL thread is about to submit`;
  return undefined;
}

/** Setup flags the kernel reveals only through behaviour: probes on cryo's own copy of the descriptor (no effect on the ring). */
function probeFlags(stolen: number, why: string): number {
  let flags = 0;
  try {
    rawSyscall('io_uring_register', stolen, REGISTER_PROBE, 0, 0);
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    if (e.code === 'EACCES') throw new DumpError('UNSUPPORTED', `${why} has restrictions registered (IORING_REGISTER_RESTRICTIONS): cryo cannot dump them yet`);
    if (e.code === 'EEXIST') flags |= SETUP.SINGLE_ISSUER; // only its submitter task may register
  }
  if (!(flags & SETUP.SINGLE_ISSUER)) {
    // A registered eventfd shows nowhere but here: registering one of cryo's own fails with EBUSY
    // while the ring has one (and is undone at once otherwise).
    const efd = Number(rawSyscall('eventfd2', 0, O_CLOEXEC));
    try {
      const arg = Buffer.alloc(4);
      writeI32(arg, efd, 0);
      rawSyscall('io_uring_register', stolen, REGISTER_EVENTFD, arg, 1);
      rawSyscall('io_uring_register', stolen, UNREGISTER_EVENTFD, 0, 0);
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      if (e.code === 'EBUSY') throw new DumpError('UNSUPPORTED', `${why} has an eventfd registered (IORING_REGISTER_EVENTFD): cryo cannot dump that yet`);
    } finally {
      closeSync(efd);
    }
  }
  if (flags & SETUP.SINGLE_ISSUER) {
    try {
      rawSyscall('io_uring_enter', stolen, 0, 0, ENTER_GETEVENTS, 0, 0);
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      if (e.code === 'EEXIST') flags |= SETUP.DEFER_TASKRUN; // only its submitter task may wait
    }
  }
  return flags;
}

/**
 * The thread a SINGLE_ISSUER ring belongs to: io_uring_register answers every other task EEXIST
 * before it looks at its arguments (a probe without a buffer does nothing else).
 */
function submitterOf(c: DumpFd, why: string): number {
  const own = c.inEachThread('io_uring_register', c.fd, REGISTER_PROBE, 0, 0).filter(([, r]) => r >= 0n || errnoName(Number(-r)) !== 'EEXIST');
  if (own.length !== 1) throw new DumpError('UNSUPPORTED', `${why} was set up with IORING_SETUP_SINGLE_ISSUER and belongs to no thread of the task (to another process, or a thread that exited): cryo cannot restore a ring only that task may use`);
  return own[0]![0];
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
    try { links.set(fd, readFdLink(pid, fd)); } catch { /* closed meanwhile: a frozen task closes nothing */ }
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
    const info = readSettled(c.pid, c.fd);
    const sqpoll = info.sqThread !== -1;
    const busy = inFlight(info, sqpoll);
    if (busy) throw new DumpError('BUSY', `${why} has ${busy}: cryo dumps io_uring only with no request in flight; dump again once the program has reaped its completions`);
    const files = registeredFiles(c.pid, c.fd, info, why);
    if (info.personalities.length > 0) throw new DumpError('UNSUPPORTED', `${why} has registered personalities: cryo cannot dump them yet`);
    const bufs = [...info.bufs].filter(([, b]) => b.len > 0).map(([index, b]) => ({ index, addr: b.addr, len: b.len }));
    if (bufs.length !== info.userBufs) throw new DumpError('UNSUPPORTED', `${why} has a sparse registered buffer table (${bufs.length} of ${info.userBufs} slots set): cryo cannot dump that yet`);
    let flags = probeFlags(c.stolen, why);
    const submitterTid = flags & SETUP.SINGLE_ISSUER ? submitterOf(c, why) : undefined;
    let cpu: number | undefined;
    if (sqpoll) {
      flags |= SETUP.SQPOLL;
      cpu = sqThreadCpu(c.pid, info.sqThread);
      if (cpu !== undefined) flags |= SETUP.SQ_AFF;
    }
    if (info.cqEntries !== 2 * info.sqEntries) flags |= SETUP.CQSIZE;
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
    const ring: IoUringImage = {
      id: c.id, sqEntries: info.sqEntries, cqEntries: info.cqEntries, flags,
      ...(cpu !== undefined ? { sqThreadCpu: cpu } : {}),
      sqHead: info.sqHead, sqTail: info.sqTail, cqHead: info.cqHead, cqTail: info.cqTail,
      maps: maps.map((m) => ({ start: m.start, data: m.data })), nrBufs: info.userBufs, bufs, nrFiles: info.userFiles, files,
      ...(submitterTid !== undefined ? { submitterTid } : {}),
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
