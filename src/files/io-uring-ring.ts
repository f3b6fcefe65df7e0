// Restore of one io_uring instance inside the task (injected calls): a new ring with the dumped
// setup, its kernel indexes brought to the dumped ones by no-op requests (a new ring starts at
// zero and nothing else moves them), proven by the new ring's fdinfo, then the rings mapped where
// they were with the dumped contents, and the registered buffers registered again.
import type { MessageValue } from '../images/value.js';
import type { IoUringImage } from '../images/cryo-io-uring.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { readFileSync } from 'node:fs';
import { readIoUringFdinfo, readMaps, readStat } from '../proc/index.js';
import { processVmReadv, processVmWritev, sleepSync } from '../sys/index.js';
import { injectMmap } from '../inject/index.js';
import { RestoreError } from '../shared/restore-error.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from '../arch/mman.js';
import { readU32, writeU32, writeU64, writeI32 } from '../sys/native-endian.js';
import { taskCall } from './anon.js';
import {
  cqeSize, sqeSize, ENTER_GETEVENTS, ENTER_SQ_WAKEUP, FEAT_SINGLE_MMAP, OFF_CQ_RING, OFF_SQES, OFF_SQ_RING, OP_MSG_RING, OP_NOP,
  PARAMS, PARAMS_SIZE, REGISTER_BUFFERS, REGISTER_ENABLE_RINGS, REGISTER_FILES, REGISTER_SEND_MSG_RING, SETUP, SQE_CQE_SKIP_SUCCESS, SQE_SIZE, ringOffsets, type RingOffsets,
} from './io-uring-abi.js';

/** Where in cryo's scratch area the ring's call arguments go. */
const SCRATCH_AT = 1024;
/** How long an SQPOLL thread may take to pick up one batch of no-ops. */
const SQPOLL_WAIT_MS = 10_000;


/** The ring's three areas, mapped by cryo for the no-ops (anywhere in the task; unmapped after). */
interface Work { ctx: TaskCtx; fd: number; ring: IoUringImage; off: RingOffsets; sq: bigint; cq: bigint; sqes: bigint; why: string }

function read32(w: Work, at: bigint): number {
  const b = processVmReadv(w.ctx.pid, at, 4);
  if (b.length !== 4) throw new RestoreError('FAILED', `cannot read the new ring of ${w.why}`);
  return readU32(b, 0);
}
function write32(w: Work, at: bigint, v: number): void {
  const b = Buffer.alloc(4);
  writeU32(b, v >>> 0, 0);
  if (processVmWritev(w.ctx.pid, at, b) !== 4) throw new RestoreError('FAILED', `cannot write the new ring of ${w.why}`);
}

/** Every SQE a NOP with `flags`, the SQ array (where the ring has one) the identity. */
function fillNops(w: Work, flags: number): void {
  const n = w.ring.sqEntries;
  const size = sqeSize(w.ring.flags);
  const sqes = Buffer.alloc(n * size);
  const arr = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) {
    sqes[i * size] = OP_NOP;
    sqes[i * size + 1] = flags;
    writeU32(arr, i, i * 4);
  }
  const noArray = (w.ring.flags & SETUP.NO_SQARRAY) !== 0;
  if (processVmWritev(w.ctx.pid, w.sqes, sqes) !== sqes.length || (!noArray && processVmWritev(w.ctx.pid, w.sq + BigInt(w.off.sq.array), arr) !== arr.length)) {
    throw new RestoreError('FAILED', `cannot write the new ring of ${w.why}`);
  }
}

function waitFor(w: Work, at: bigint, want: number, what: string): void {
  const end = Date.now() + SQPOLL_WAIT_MS;
  while (read32(w, at) !== want) {
    if (Date.now() > end) throw new RestoreError('FAILED', `the new ring of ${w.why} did not reach ${what} ${want} (it shows ${read32(w, at)})`);
    sleepSync(1);
  }
}

/** Submits `count` no-ops in batches of the SQ size; each posts a CQE unless `skip`. Returns the new SQ and CQ indexes. */
function pump(w: Work, count: number, skip: boolean, sqIdx: number, cqIdx: number): [number, number] {
  if (count === 0) return [sqIdx, cqIdx];
  fillNops(w, skip ? SQE_CQE_SKIP_SUCCESS : 0);
  const sqpoll = (w.ring.flags & SETUP.SQPOLL) !== 0;
  for (let left = count; left > 0;) {
    const n = Math.min(left, w.ring.sqEntries);
    sqIdx = (sqIdx + n) >>> 0;
    if (!skip) cqIdx = (cqIdx + n) >>> 0;
    write32(w, w.sq + BigInt(w.off.sq.tail), sqIdx);
    if (sqpoll) {
      taskCall(w.ctx, w.why, 'io_uring_enter', w.fd, n, 0, ENTER_SQ_WAKEUP, 0, 0);
      waitFor(w, w.sq + BigInt(w.off.sq.head), sqIdx, 'SQ head');
    } else {
      const done = Number(taskCall(w.ctx, w.why, 'io_uring_enter', w.fd, n, skip ? 0 : n, skip ? 0 : ENTER_GETEVENTS, 0, 0));
      if (done !== n) throw new RestoreError('FAILED', `the new ring of ${w.why} took ${done} of ${n} no-op requests`);
    }
    waitFor(w, w.cq + BigInt(w.off.cq.tail), cqIdx, 'CQ tail');
    write32(w, w.cq + BigInt(w.off.cq.head), cqIdx);
    left -= n;
  }
  return [sqIdx, cqIdx];
}

/** Posts `count` CQEs without a request (IORING_REGISTER_SEND_MSG_RING to the ring itself). */
function postCqes(w: Work, count: number, cqIdx: number): number {
  const sqe = Buffer.alloc(SQE_SIZE);
  sqe[0] = OP_MSG_RING;
  writeI32(sqe, w.fd, 4);
  writeU64(sqe, 0n, 16); // IORING_MSG_DATA
  const at = w.ctx.put(sqe, SCRATCH_AT);
  for (let i = 0; i < count; i++) {
    taskCall(w.ctx, w.why, 'io_uring_register', -1, REGISTER_SEND_MSG_RING, at, 1);
    cqIdx = (cqIdx + 1) >>> 0;
    waitFor(w, w.cq + BigInt(w.off.cq.tail), cqIdx, 'CQ tail');
    write32(w, w.cq + BigInt(w.off.cq.head), cqIdx);
  }
  return cqIdx;
}

/** Brings the new ring's SQ head and CQ tail to the dumped ones: the program's own indexes mean nothing to a ring that starts at 0. */
function advance(w: Work): void {
  const { sqHead, cqTail } = w.ring;
  const extraCqes = (cqTail - sqHead) >>> 0;
  let sq = 0;
  let cq = 0;
  if (extraCqes < 0x80000000) {
    [sq, cq] = pump(w, sqHead, false, sq, cq);
    cq = postCqes(w, extraCqes, cq);
  } else {
    [sq, cq] = pump(w, cqTail, false, sq, cq);
    [sq, cq] = pump(w, (sqHead - cqTail) >>> 0, true, sq, cq);
  }
  // The kernel's own view must now be the dumped one.
  const k = readIoUringFdinfo(w.ctx.pid, w.fd);
  if (k.sqHead !== sqHead || k.cachedSqHead !== sqHead || k.cqTail !== cqTail || k.cachedCqTail !== cqTail) {
    throw new RestoreError('FAILED', `the new ring of ${w.why} shows SqHead ${k.sqHead}/${k.cachedSqHead}, CqTail ${k.cqTail}/${k.cachedCqTail} after the no-ops, not ${sqHead} and ${cqTail}`);
  }
}

function tempMap(ctx: TaskCtx, fd: number, size: number, off: bigint): bigint {
  return BigInt.asUintN(64, injectMmap(ctx.inj, 0n, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, off));
}

/**
 * A new ring in the task like the dumped one, at the dumped addresses with the dumped contents;
 * returns its descriptor. A ring only one thread may use (SINGLE_ISSUER) belongs to the task that
 * sets it up: one of a thread other than the main one is set up disabled (IORING_SETUP_R_DISABLED:
 * no task owns it yet) and enabled by its thread once the threads exist, which owns it from then on.
 */
export function restoreRing(ctx: TaskCtx, ring: IoUringImage, vmas: MessageValue[], why: string): number {
  const owner = ring.submitterTid !== undefined && ring.submitterTid !== ctx.pid ? ring.submitterTid : undefined;
  const p = Buffer.alloc(PARAMS_SIZE);
  writeU32(p, ring.cqEntries, PARAMS.cqEntries);
  writeU32(p, ring.flags | (owner !== undefined ? SETUP.R_DISABLED : 0), PARAMS.flags);
  writeU32(p, ring.sqThreadCpu ?? 0, PARAMS.sqThreadCpu);
  writeU32(p, ring.sqThreadIdle ?? 0, PARAMS.sqThreadIdle);
  const fd = Number(taskCall(ctx, why, 'io_uring_setup', ring.sqEntries, ctx.put(p, SCRATCH_AT)));
  const off = ringOffsets(ctx.get(SCRATCH_AT, PARAMS_SIZE));
  if (owner === undefined) {
    fillRing(ctx, fd, ring, vmas, off, why);
    return fd;
  }
  ctx.withThreads((threads) => {
    const t = threads.find((x) => x.tid === owner);
    if (!t) throw new RestoreError('IMAGE_INCONSISTENT', `${why}: its ring belongs to thread ${owner}, which the images do not make`);
    taskCall(t, `${why} (enabled by its thread ${owner})`, 'io_uring_register', fd, REGISTER_ENABLE_RINGS, 0, 0);
    fillRing(t, fd, ring, vmas, off, why);
  });
  return fd;
}

/** The new ring's indexes brought to the dumped ones, its areas mapped where they were, its buffers registered: in the thread `ctx` (its submitter). */
function fillRing(ctx: TaskCtx, fd: number, ring: IoUringImage, vmas: MessageValue[], off: RingOffsets, why: string): void {
  const sqSize = ring.flags & SETUP.NO_SQARRAY ? off.sq.flags + 4 : off.sq.array + ring.sqEntries * 4;
  const cqSize = off.cq.cqes + ring.cqEntries * cqeSize(ring.flags);
  const single = (off.features & FEAT_SINGLE_MMAP) !== 0;
  const temp: [bigint, number][] = [];
  const map = (size: number, o: bigint) => {
    const a = tempMap(ctx, fd, size, o);
    temp.push([a, size]);
    return a;
  };
  try {
    const sq = map(single ? Math.max(sqSize, cqSize) : sqSize, OFF_SQ_RING);
    const w: Work = { ctx, fd, ring, off, sq, cq: single ? sq : map(cqSize, OFF_CQ_RING), sqes: map(ring.sqEntries * sqeSize(ring.flags), OFF_SQES), why };
    advance(w);
  } finally {
    for (const [a, size] of temp) ctx.call('munmap', a, size);
  }
  for (const v of vmas) mapDumped(ctx, fd, ring, v, off, why);
  registerBuffers(ctx, fd, ring, why);
}

/**
 * Maps a ring area at `start`. io_uring refuses any address but its own choice (MAP_FIXED and
 * mremap fail with EINVAL), so cryo leaves it no other choice: every other hole of the address
 * space is filled with inaccessible placeholders (unmapped right after) while the kernel picks one.
 */
function mapAt(ctx: TaskCtx, fd: number, start: bigint, len: bigint, pgoff: bigint, flags: number, why: string): void {
  const where = `0x${start.toString(16)}`;
  const page = BigInt(ctx.arch.pageSize);
  let low = page;
  try { low = BigInt(readFileSync('/proc/sys/vm/mmap_min_addr', 'utf8').trim()); } catch { /* the default */ }
  low = ((low + page - 1n) / page) * page || page;
  const top = ctx.arch.mmapTop - page;
  const holes: [bigint, bigint][] = [];
  let at = low;
  for (const m of readMaps(ctx.pid)) {
    if (m.start > at && at < top) holes.push([at, (m.start < top ? m.start : top)]);
    if (m.end > at) at = m.end;
  }
  if (at < top) holes.push([at, top]);
  const [keepLo, keepHi] = roomFor(ctx, start, len, holes);
  const fills: [bigint, bigint][] = [];
  let got = -1n;
  try {
    for (const [a, b] of holes) {
      // The hole the ring goes to keeps only the ring's room free.
      const parts: [bigint, bigint][] = keepLo >= a && keepHi <= b ? [[a, keepLo], [keepHi, b]] : [[a, b]];
      for (const [x, y] of parts) {
        if (y <= x) continue;
        let r = -1n;
        try { r = BigInt.asUintN(64, injectMmap(ctx.inj, x, y - x, 0, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0)); } catch { /* a hole the kernel keeps (the stack's guard gap): left */ }
        if (r === x) fills.push([x, y - x]);
        else if (r !== -1n) ctx.call('munmap', r, y - x);
      }
    }
    try {
      got = BigInt.asUintN(64, injectMmap(ctx.inj, 0n, len, PROT_READ | PROT_WRITE, flags, fd, pgoff));
    } catch (e) {
      throw new RestoreError('FAILED', `${why}: cannot map the new ring (${(e as Error).message})`);
    }
  } finally {
    for (const [x, n] of fills) ctx.call('munmap', x, n);
  }
  if (got !== start) {
    ctx.call('munmap', got, len);
    throw new RestoreError('FAILED', `${why}: the kernel would map the new ring only at 0x${got.toString(16)}, not at ${where} where the program has it`);
  }
}

/** PF_RANDOMIZE in /proc/PID/stat's flags: the kernel aligns the task's shared mappings (sharedMmapAlign). */
const PF_RANDOMIZE = 0x00400000;

/**
 * The room mapAt leaves free for a ring area at `start`: its length, and where the kernel aligns
 * shared mappings of the task (s390x), the alignment's slack as well on a side the task leaves free
 * (the kernel looks for a gap of length + slack; with it just below or just above, both its top-down
 * and its bottom-up search land on `start`).
 */
function roomFor(ctx: TaskCtx, start: bigint, len: bigint, holes: readonly [bigint, bigint][]): [bigint, bigint] {
  const align = BigInt(ctx.arch.sharedMmapAlign ?? ctx.arch.pageSize);
  const slack = align - BigInt(ctx.arch.pageSize);
  const hole = holes.find(([a, b]) => a <= start && start + len <= b);
  if (hole === undefined || slack <= 0n || start % align !== 0n || (readStat(ctx.pid).flags & PF_RANDOMIZE) === 0) return [start, start + len];
  if (hole[0] <= start - slack) return [start - slack, start + len];
  if (start + len + slack <= hole[1]) return [start, start + len + slack];
  return [start, start + len];
}

/** Maps one dumped ring area at its address and puts its contents back (the kernel's sq_flags, NEED_WAKEUP and the like, stay). */
function mapDumped(ctx: TaskCtx, fd: number, ring: IoUringImage, v: MessageValue, off: RingOffsets, why: string): void {
  const start = BigInt(v.start as bigint);
  const len = BigInt(v.end as bigint) - start;
  const pgoff = BigInt(v.pgoff as bigint);
  const prot = Number(v.prot);
  const where = `0x${start.toString(16)}`;
  mapAt(ctx, fd, start, len, pgoff, (Number(v.flags) | MAP_SHARED) & ~MAP_FIXED, why);
  const data = Buffer.from(ring.maps.find((m) => m.start === start)!.data);
  if (pgoff === OFF_SQ_RING || pgoff === OFF_CQ_RING) {
    // What the kernel writes stays the new ring's: its SQ head and CQ tail (the dumped ones, as
    // the no-ops made them) and its SQ flags (NEED_WAKEUP of its own SQPOLL thread, ...).
    for (const at of [off.sq.head, off.cq.tail, off.sq.flags]) {
      if (at + 4 <= data.length) processVmReadv(ctx.pid, start + BigInt(at), 4).copy(data, at);
    }
  }
  if (processVmWritev(ctx.pid, start, data) !== data.length) throw new RestoreError('FAILED', `${why}: cannot write the ring at ${where}`);
  if (prot !== (PROT_READ | PROT_WRITE)) ctx.call('mprotect', start, len, prot);
}

/** The registered buffers again, from the task's restored memory (empty slots of a sparse table: a null iovec), checked in the new ring's fdinfo. */
function registerBuffers(ctx: TaskCtx, fd: number, ring: IoUringImage, why: string): void {
  if (ring.nrBufs === 0) return;
  const iov = Buffer.alloc(ring.nrBufs * 16);
  for (const b of ring.bufs) {
    if (b.index >= ring.nrBufs) throw new RestoreError('IMAGE_INCONSISTENT', `${why}: registered buffer slot ${b.index} is beyond its table of ${ring.nrBufs}`);
    writeU64(iov, b.addr, b.index * 16);
    writeU64(iov, BigInt(b.len), b.index * 16 + 8);
  }
  taskCall(ctx, `${why} (its registered buffers)`, 'io_uring_register', fd, REGISTER_BUFFERS, ctx.put(iov, SCRATCH_AT), ring.nrBufs);
  const k = readIoUringFdinfo(ctx.pid, fd);
  const wrong = ring.bufs.find((b) => k.bufs.get(b.index)?.addr !== b.addr || k.bufs.get(b.index)?.len !== b.len);
  const set = [...k.bufs.values()].filter((b) => b.len > 0).length;
  if (k.userBufs !== ring.nrBufs || set !== ring.bufs.length || wrong) {
    throw new RestoreError('FAILED', `the new ring of ${why} shows ${k.userBufs} registered buffer slot(s), ${set} set, not the dumped ${ring.nrBufs} with ${ring.bufs.length} set${wrong ? ` (slot ${wrong.index})` : ''}`);
  }
}

/**
 * The registered file table again (sparse slots -1) from the task's descriptors, checked against
 * the new ring's fdinfo: each slot must name the file it named at dump time (a socket or pipe: of that kind).
 */
export function registerFiles(ctx: TaskCtx, fd: number, ring: IoUringImage, why: string): void {
  const table = Buffer.alloc(ring.nrFiles * 4);
  for (let i = 0; i < ring.nrFiles; i++) writeI32(table, -1, i * 4);
  for (const f of ring.files) {
    if (f.index >= ring.nrFiles) throw new RestoreError('IMAGE_INCONSISTENT', `${why}: registered file slot ${f.index} is beyond its table of ${ring.nrFiles}`);
    writeI32(table, f.fd, f.index * 4);
  }
  taskCall(ctx, `${why} (its registered files)`, 'io_uring_register', fd, REGISTER_FILES, ctx.put(table, SCRATCH_AT), ring.nrFiles);
  const k = readIoUringFdinfo(ctx.pid, fd);
  // A file's path must be the dumped one; a socket's or pipe's name ('socket:[INODE]') has a new inode.
  const same = (now: string | undefined, was: string) => now === was || (now !== undefined && /^[a-z_]+:\[\d+\]$/.test(was) && now.split(':')[0] === was.split(':')[0]);
  const wrong = ring.files.find((f) => !same(k.files.get(f.index), f.path));
  if (k.userFiles !== ring.nrFiles || k.files.size !== ring.files.length || wrong) {
    throw new RestoreError('FAILED', `the new ring of ${why} shows ${k.userFiles} registered file slot(s)${wrong ? `, slot ${wrong.index} ${k.files.get(wrong.index) ?? 'empty'}` : ''}, not the dumped ${ring.nrFiles}${wrong ? ` (slot ${wrong.index} ${wrong.path})` : ''}`);
  }
}
