// Rebuilds the task's address space inside the stub, by injected syscalls:
// the stub's vdso/vvar move to where the task had them (their syscall
// instruction is what every injected call runs on; when the dumped vDSO differs
// from this kernel's they stay out of the way and the old one comes back patched,
// see vdso-choice.ts), the stub's own mappings go, every dumped VMA is mapped at
// its address, pages are read into place by injected preadv, then protections,
// madvise and PR_SET_MM_MAP.

import path from 'node:path';
import { findHole, injectMmap, SyscallBatch, type BatchPlace } from '../inject/index.js';
import { PageChain } from '../images/page-chain.js';
import type { MessageValue } from '../images/value.js';
import { readMaps, type Vma } from '../proc/index.js';
import { IOV_MAX, iovecBytes, processVmReadv, processVmWritev, writeU32, writeU64 } from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';
import { reportProgress } from '../progress.js';
import { regFile } from './preflight.js';
import { openInTask, type TaskCtx } from '../shared/task-ctx.js';
import { vmaKind, VMA } from '../shared/vma-kinds.js';
import { mapShmemVma } from '../shared/shmem.js';
import { SHM_EXEC, SHM_RDONLY, SHM_REMAP } from '../shared/sysv-ipc.js';
import type { VdsoMapCall } from '../arch/types.js';
import { FillableRanges, outsideFillable } from './fillable.js';
import { lazyRanges, registerLazy } from './lazy.js';
import { withoutRanges, type Range } from '../shared/ranges.js';
import { chooseVdso, type VdsoChoice } from './vdso-choice.js';
import { dumpPageSize } from './page-size.js';
import { restoreAioRings } from './aio.js';
import { patchedVdso } from './vdso-trampoline.js';
import { restoreMemoryTags } from './mem-tags.js';
import { openImagePath, S_IFREG } from '../shared/image-paths.js';
import { O_ACCMODE, O_CLOEXEC } from '../shared/constants.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE } from '../arch/mman.js';

const MREMAP_MAYMOVE = 1;
const MREMAP_FIXED = 2;
const PR_SET_MM = 35;
const PR_SET_MM_MAP = 14;
const PR_SET_THP_DISABLE = 41;
/** Scratch pages: paths, structs (prctl_mm_map + auxv, sigactions, filters). */
const SCRATCH_PAGES = 4;

const hex = (v: bigint) => `0x${v.toString(16)}`;
const big = (v: unknown): bigint => BigInt(v as bigint | number);

const asVmas = (r: Range[]) => r as unknown as Vma[];

function dumpedVmas(ctx: TaskCtx): MessageValue[] {
  return [...((ctx.img.mm.vmas as MessageValue[] | undefined) ?? [])].sort((a, b) => (big(a.start) < big(b.start) ? -1 : 1));
}

/** The stub's vdso-like areas, in address order, and the dumped addresses they must move to. */
function vdsoMoves(ctx: TaskCtx, maps: Vma[]): { from: bigint; size: bigint; to: bigint; name: string }[] {
  const names = ctx.arch.vdso.areas;
  const mine = maps.filter((m) => names.includes(m.name)).sort((a, b) => (a.start < b.start ? -1 : 1));
  const vmas = dumpedVmas(ctx);
  const vdso = vmas.find((v) => Number(v.status) & VMA.VDSO);
  const vvar = vmas.find((v) => Number(v.status) & VMA.VVAR);
  if (vdso === undefined) throw new RestoreError('UNSUPPORTED', 'the dumped process has no vdso; cryo cannot restore a process without one yet');
  const size = (m: MessageValue | Vma) => big(m.end) - big(m.start);
  const myVdso = mine.find((m) => m.name === ctx.arch.vdso.vdso);
  if (!myVdso) throw new RestoreError('FAILED', `the restore stub has no ${ctx.arch.vdso.vdso}`);
  if (size(myVdso) !== size(vdso)) {
    throw new RestoreError('UNSUPPORTED', `this kernel's vdso is ${size(myVdso)} bytes, the dumped one ${size(vdso)}: cryo cannot restore across different vdsos yet`);
  }
  const data = mine.filter((m) => m !== myVdso);
  const dataSize = data.reduce((s, m) => s + size(m), 0n);
  if (vvar === undefined ? dataSize !== 0n : dataSize !== size(vvar)) {
    throw new RestoreError('UNSUPPORTED', `this kernel's vvar area is ${dataSize} bytes, the dumped one ${vvar ? size(vvar) : 0n}: cryo cannot restore across different vdsos yet`);
  }
  // The data areas keep their order and sit back to back in the dumped vvar area.
  let at = vvar ? big(vvar.start) : 0n;
  const moves = data.map((m) => { const mv = { from: m.start, size: size(m), to: at, name: m.name }; at += size(m); return mv; });
  moves.push({ from: myVdso.start, size: size(myVdso), to: big(vdso.start), name: myVdso.name });
  return moves;
}

function mremap(ctx: TaskCtx, from: bigint, size: bigint, to: bigint): void {
  ctx.call('mremap', from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
}

/** Clears the stub's address space down to its vdso areas and moves those into place. */
export function replaceStubMappings(ctx: TaskCtx): void {
  const maps = readMaps(ctx.pid);
  if (ctx.arch.vdso.map) {
    mapTaskVdso(ctx, maps, ctx.arch.vdso.map);
    return;
  }
  const choice = stubVdsoChoice(ctx, maps);
  if (choice.kind === 'patched') {
    keepStubVdso(ctx, maps, choice);
    return;
  }
  const moves = vdsoMoves(ctx, maps);
  const own = ownAreas(ctx);
  for (const m of maps) {
    if (ctx.arch.vdso.areas.includes(m.name) || m.kind === 'vsyscall') continue;
    if (own.some((r) => r.start <= m.start && m.end <= r.end)) continue;
    ctx.call('munmap', m.start, m.end - m.start);
  }
  if (moves.every((m) => m.from === m.to)) return;
  // Park everything first in a hole free of both layouts, so no move lands on an area not moved yet.
  const total = moves.reduce((s, m) => s + m.size, 0n);
  const occupied: Range[] = [
    ...moves.map((m) => ({ start: m.from, end: m.from + m.size })),
    ...dumpedVmas(ctx).map((v) => ({ start: big(v.start), end: big(v.end) })),
    ...own,
  ].filter((r) => r.end <= ctx.arch.mmapTop);
  const park = findHole(asVmas(occupied), total, BigInt(ctx.arch.pageSize), ctx.arch.mmapTop);
  let off = 0n;
  for (const m of moves) {
    mremap(ctx, m.from, m.size, park + off);
    off += m.size;
    if (m.name === ctx.arch.vdso.vdso) ctx.reattach();
  }
  off = 0n;
  for (const m of moves) {
    mremap(ctx, park + off, m.size, m.to);
    off += m.size;
    if (m.name === ctx.arch.vdso.vdso) ctx.reattach();
  }
}

/** What the task gets: this kernel's vDSO where it had its own, or its old one patched (vdso-choice.ts). */
function stubVdsoChoice(ctx: TaskCtx, maps: Vma[]): VdsoChoice {
  const areas = maps.filter((m) => ctx.arch.vdso.areas.includes(m.name));
  const mine = areas.find((m) => m.name === ctx.arch.vdso.vdso);
  if (mine === undefined) return { kind: 'same' }; // vdsoMoves says what is missing
  return chooseVdso(ctx.img, ctx.arch, {
    size: mine.end - mine.start,
    dataSize: areas.filter((m) => m !== mine).reduce((s, m) => s + m.end - m.start, 0n),
    bytes: () => processVmReadv(ctx.pid, mine.start, Number(mine.end - mine.start)),
  });
}

/** The task's old vDSO to write back patched, where this kernel's went, and the range it takes. */
const patchedVdsos = new WeakMap<TaskCtx, { choice: Extract<VdsoChoice, { kind: 'patched' }>; newVdso: bigint; range: Range }>();

/**
 * A task whose vDSO differs from this kernel's keeps the stub's (so the kernel's own uses of it, the
 * signal return trampoline on some architectures, find the real one: mremap tells the kernel where
 * it went), its areas together as the kernel laid them out, moved out of the dumped layout's way.
 */
function keepStubVdso(ctx: TaskCtx, maps: Vma[], choice: Extract<VdsoChoice, { kind: 'patched' }>): void {
  const names = ctx.arch.vdso.areas;
  const own = maps.filter((m) => names.includes(m.name));
  const cryos = ownAreas(ctx);
  for (const m of maps) {
    if (names.includes(m.name) || m.kind === 'vsyscall') continue;
    if (cryos.some((r) => r.start <= m.start && m.end <= r.end)) continue;
    ctx.call('munmap', m.start, m.end - m.start);
  }
  const lo = own.reduce((a, m) => (m.start < a ? m.start : a), own[0]!.start);
  const hi = own.reduce((a, m) => (m.end > a ? m.end : a), own[0]!.end);
  const dumped: Range[] = dumpedVmas(ctx).map((v) => ({ start: big(v.start), end: big(v.end) }));
  let base = lo;
  if ([...dumped, ...cryos].some((r) => r.start < hi && r.end > lo)) {
    const occupied = [...dumped, ...cryos, { start: lo, end: hi }].filter((r) => r.end <= ctx.arch.mmapTop);
    base = findHole(asVmas(occupied), hi - lo, BigInt(ctx.arch.pageSize), ctx.arch.mmapTop);
    for (const m of own) {
      mremap(ctx, m.start, m.end - m.start, base + (m.start - lo));
      if (m.name === ctx.arch.vdso.vdso) ctx.reattach();
    }
  }
  const vdso = own.find((m) => m.name === ctx.arch.vdso.vdso)!;
  patchedVdsos.set(ctx, { choice, newVdso: base + (vdso.start - lo), range: { start: base, end: base + (hi - lo) } });
}

/** The task's old vDSO back where it was, as private memory, each entry point jumping into the new one. */
function writeOldVdso(ctx: TaskCtx): void {
  const p = patchedVdsos.get(ctx);
  const tr = ctx.arch.vdso.trampoline;
  if (p === undefined || tr === undefined) return;
  const { choice } = p;
  const len = BigInt(choice.dumped.length);
  const at = BigInt.asUintN(64, injectMmap(ctx.inj, choice.start, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
  if (at !== choice.start) throw new RestoreError('FAILED', `the old vDSO's place ${hex(choice.start)} is taken (mmap gave ${hex(at)})`);
  const bytes = patchedVdso(choice.dumped, choice.plan, tr, choice.start, p.newVdso);
  if (processVmWritev(ctx.pid, choice.start, bytes) !== bytes.length) throw new RestoreError('FAILED', `cannot write the old vDSO at ${hex(choice.start)}`);
  ctx.call('mprotect', choice.start, len, choice.prot);
}

/**
 * For a task whose vDSO is not the stub's (an ia32 task restored by a 64-bit stub): the stub's
 * mappings all go and the task's vDSO is mapped where it was by the arch's call. The kernel maps
 * one vDSO per process, so the stub's goes first; meanwhile injected calls run on a copy of the
 * syscall instruction in a page of cryo's, removed again once the new vDSO offers one.
 */
function mapTaskVdso(ctx: TaskCtx, maps: Vma[], call: VdsoMapCall): void {
  const names = ctx.arch.vdso.areas;
  const vmas = dumpedVmas(ctx);
  const areas = vmas.filter((v) => Number(v.status) & (VMA.VDSO | VMA.VVAR));
  const vdso = vmas.find((v) => Number(v.status) & VMA.VDSO);
  if (vdso === undefined) throw new RestoreError('UNSUPPORTED', 'the dumped process has no vdso; cryo cannot restore a process without one yet');
  const start = areas.reduce((m, v) => (big(v.start) < m ? big(v.start) : m), big(vdso.start));
  const cryos = ownAreas(ctx);
  for (const m of maps) {
    if (names.includes(m.name) || m.kind === 'vsyscall') continue;
    if (cryos.some((r) => r.start <= m.start && m.end <= r.end)) continue;
    ctx.call('munmap', m.start, m.end - m.start);
  }
  const page = BigInt(ctx.arch.pageSize);
  const occupied: Range[] = [
    ...maps.filter((m) => names.includes(m.name)).map((m) => ({ start: m.start, end: m.end })),
    ...vmas.map((v) => ({ start: big(v.start), end: big(v.end) })),
    ...cryos,
  ].filter((r) => r.end <= ctx.arch.mmapTop);
  const want = findHole(asVmas(occupied), page, page, ctx.arch.mmapTop);
  const site = BigInt.asUintN(64, injectMmap(ctx.inj, want, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
  if (processVmWritev(ctx.pid, site, ctx.arch.syscall.instruction) !== ctx.arch.syscall.instruction.length) {
    throw new RestoreError('FAILED', `cannot write cryo's syscall page at ${hex(site)}`);
  }
  ctx.call('mprotect', site, page, PROT_READ | PROT_EXEC);
  // The vDSO the calls ran on goes last; its munmap traps right after the syscall, before returning there.
  const own = maps.filter((m) => names.includes(m.name)).sort((a, b) => Number(a.name === ctx.arch.vdso.vdso) - Number(b.name === ctx.arch.vdso.vdso));
  for (const m of own) ctx.call('munmap', m.start, m.end - m.start);
  ctx.reattach();
  ctx.call(call.name, ...call.args(start));
  ctx.reattach();
  ctx.call('munmap', site, page);
  const now = readMaps(ctx.pid).find((m) => m.name === ctx.arch.vdso.vdso);
  const size = (m: MessageValue | Vma) => big(m.end) - big(m.start);
  if (now === undefined || now.start !== big(vdso.start) || size(now) !== size(vdso)) {
    throw new RestoreError('UNSUPPORTED', `this kernel's ${ctx.arch.abi} vdso came at ${now ? `${hex(now.start)} (${size(now)} bytes)` : 'no address'}, the dumped one was at ${hex(big(vdso.start))} (${size(vdso)} bytes): cryo cannot restore across different vdsos yet`);
  }
}

/** Maps scratch memory in a hole of the dumped layout (removed again before the task resumes). */
export function mapScratch(ctx: TaskCtx): void {
  const size = SCRATCH_PAGES * ctx.arch.pageSize;
  // A hole in both the dumped layout and the stub's, which is still there.
  const occupied = [...dumpedVmas(ctx).map((v) => ({ start: big(v.start), end: big(v.end) })), ...readMaps(ctx.pid)]
    .filter((r) => r.end <= ctx.arch.mmapTop);
  const want = findHole(asVmas(occupied), BigInt(size), BigInt(ctx.arch.pageSize), ctx.arch.mmapTop);
  const addr = BigInt.asUintN(64, injectMmap(ctx.inj, want, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
  ctx.scratch = { addr, size };
  ctx.inj.argArea = addr + BigInt(size - ARG_AREA);
  mapBatchArea(ctx, [...occupied, { start: addr, end: addr + BigInt(size) }]);
}

/** Bytes at the end of the scratch area kept for argument blocks (Injector.argArea). */
const ARG_AREA = 64;

/** cryo's own areas in the task (scratch, batch runner), which the stub cleanup leaves alone. */
function ownAreas(ctx: TaskCtx): Range[] {
  const out: Range[] = [];
  if (ctx.scratch) out.push({ start: ctx.scratch.addr, end: ctx.scratch.addr + BigInt(ctx.scratch.size) });
  const b = batchAreas.get(ctx);
  if (b) out.push({ start: b.addr, end: b.addr + BigInt(b.size) });
  return out;
}

/** The batch runner's code page and table of each task being restored (see SyscallBatch). */
const batchAreas = new WeakMap<TaskCtx, { addr: bigint; size: number; place: BatchPlace }>();
/** Pages of the syscall table: 64 entries of 64 bytes per 4 KiB page. */
const BATCH_TABLE_PAGES = 16;

/** Maps the arch's batch runner (read+exec) and a table for it, when the arch has one. */
function mapBatchArea(ctx: TaskCtx, occupied: Range[]): void {
  const code = ctx.arch.syscall.batchCode;
  if (!code || process.env.CRYO_NO_BATCH === '1') return;
  const page = ctx.arch.pageSize;
  const codeSize = Math.ceil(code.length / page) * page;
  const size = codeSize + BATCH_TABLE_PAGES * page;
  const want = findHole(asVmas(occupied), BigInt(size), BigInt(page), ctx.arch.mmapTop);
  const addr = BigInt.asUintN(64, injectMmap(ctx.inj, want, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
  if (processVmWritev(ctx.pid, addr, code) !== code.length) throw new RestoreError('FAILED', `cannot write cryo's batch runner into task ${ctx.pid}`);
  ctx.call('mprotect', addr, codeSize, PROT_READ | PROT_EXEC);
  batchAreas.set(ctx, { addr, size, place: { code: addr, table: addr + BigInt(codeSize), tableSize: BATCH_TABLE_PAGES * page } });
}

/** A batch of injected calls for `ctx` (one call at a time where the arch has no batch runner). */
function batchFor(ctx: TaskCtx): SyscallBatch {
  return new SyscallBatch(() => ctx.inj, batchAreas.get(ctx)?.place ?? { code: undefined, table: 0n, tableSize: 0 });
}

export function unmapScratch(ctx: TaskCtx): void {
  const area = batchAreas.get(ctx);
  if (area) {
    ctx.call('munmap', area.addr, area.size);
    batchAreas.delete(ctx);
  }
  if (!ctx.scratch) return;
  ctx.call('munmap', ctx.scratch.addr, ctx.scratch.size);
  ctx.scratch = undefined;
  ctx.inj.argArea = undefined;
}

/** Attaches a System V segment where it was; returns true when its protection must change after. */
function attachSysvShm(ctx: TaskCtx, v: MessageValue): boolean {
  const start = big(v.start);
  const prot = Number(v.prot);
  const shmflg = (prot & PROT_WRITE ? 0 : SHM_RDONLY) | (prot & PROT_EXEC ? SHM_EXEC : 0) | SHM_REMAP;
  const at = ctx.call('shmat', Number(v.shmid), start, shmflg);
  if (at !== start) throw new RestoreError('FAILED', `System V shared memory segment ${v.shmid} was attached at ${hex(at)}, not ${hex(start)}`);
  return (PROT_READ | prot) !== prot;
}

/** Maps every dumped VMA (writable while pages are filled), returning the ones whose protection must change after. */
function mapVmas(ctx: TaskCtx): MessageValue[] {
  const fixup: MessageValue[] = [];
  const batch = batchFor(ctx);
  for (const v of dumpedVmas(ctx)) {
    const kind = vmaKind(Number(v.status));
    if (kind === 'skip' || kind === 'vdso' || kind === 'io-uring') continue;
    const start = big(v.start);
    const len = big(v.end) - start;
    const prot = Number(v.prot);
    const flags = (Number(v.flags) | MAP_FIXED) >>> 0;
    const where = `the mapping at ${hex(start)}`;
    if (kind === 'aio') {
      // The dumped ring's bytes, read back by restoreAioRings once the pages are in.
      batch.addMmap(start, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      if (prot !== (PROT_READ | PROT_WRITE)) fixup.push(v);
      continue;
    }
    if (kind === 'anon-private') {
      batch.addMmap(start, len, prot | PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
      if (prot !== (prot | PROT_READ | PROT_WRITE)) fixup.push(v);
      continue;
    }
    batch.flush(); // the calls below use the scratch area and must find the mappings before them in place
    if (kind === 'shmem') {
      if (mapShmemVma(ctx, v)) fixup.push(v);
      continue;
    }
    if (kind === 'sysv-shm') {
      if (attachSysvShm(ctx, v)) fixup.push(v);
      continue;
    }
    const reg = regFile(ctx.img, Number(v.shmid), where);
    const openFlags = kind === 'file-shared' ? (Number(v.fdflags ?? 0) & O_ACCMODE) : 0;
    const fd = openImagePath(ctx, String(reg.name), openFlags | O_CLOEXEC, where);
    try {
      // Private mappings get their dirty pages written later, so they start writable; shared ones keep the file's access.
      const mprot = kind === 'file-private' ? prot | PROT_READ | PROT_WRITE : prot;
      injectMmap(ctx.inj, start, len, mprot, flags, fd, big(v.pgoff));
      if (mprot !== prot) fixup.push(v);
    } finally {
      ctx.call('close', fd);
    }
  }
  batch.flush();
  return fixup;
}

/** Bytes one injected preadv asks for at most (under the kernel's MAX_RW_COUNT; small enough for progress). */
const PREADV_MAX_BYTES = 64 << 20;

/**
 * Fills the pages by injected preadv from the pages image straight into the task's memory: one
 * copy, as a plain read() into fresh memory, and up to IOV_MAX runs per call (the image holds the
 * runs back to back, so consecutive runs are one file range). The iovecs go to the scratch area.
 */
function fillPages(ctx: TaskCtx, lazy: readonly Range[]): void {
  const scratch = ctx.scratch;
  if (!scratch) throw new Error('internal: no scratch memory in the task yet');
  const page = dumpPageSize(ctx.img, ctx.arch.pageSize);
  const skip = dumpedVmas(ctx).filter((v) => vmaKind(Number(v.status)) === 'vdso' || vmaKind(Number(v.status)) === 'skip')
    .map((v) => ({ start: big(v.start), end: big(v.end) }))
    .concat(lazy).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  // The pages of this dump and, for in_parent runs, of the dumps of its chain (preflight checked them).
  const chain = new PageChain(ctx.img.dir, path.basename(ctx.img.pagemapFile), page);
  const fillable = new FillableRanges(ctx.img);
  const maxIov = Math.min(IOV_MAX, Math.floor(scratch.size / 16));
  const iov = Buffer.alloc(maxIov * 16);
  const fds = new Map<string, number>();
  let file = '';
  let n = 0;
  let bytes = 0;
  let fileOff = 0;
  let moved = 0;
  const segments = [...chain.segments()];
  const totalBytes = segments.reduce((a, s) => a + s.len, 0);
  reportProgress('restore', 0, totalBytes);
  const flush = () => {
    if (n === 0) return;
    let fd = fds.get(file);
    if (fd === undefined) fds.set(file, (fd = openInTask(ctx, file, O_CLOEXEC, 'the pages image')));
    const at = ctx.put(iov.subarray(0, n * 16), 0);
    const got = ctx.call('preadv', fd, at, n, fileOff, 0);
    if (got !== BigInt(bytes)) {
      throw new RestoreError('FAILED', `${file} ends early: read ${got} of ${bytes} bytes of pages at byte ${fileOff}`);
    }
    moved += bytes;
    reportProgress('restore', moved, totalBytes);
    n = 0;
    bytes = 0;
  };
  try {
    for (const seg of segments) {
      const segFile = path.resolve(seg.file);
      // The kernel's own vdso pages are not written; a run may go on past them into the next
      // mapping (arm64 puts ld.so's data right above the vdso), and those pages are.
      for (const part of withoutRanges(seg.vaddr, seg.vaddr + BigInt(seg.len), skip)) {
        const total = Number(part.end - part.start);
        if (!fillable.covers(part.start, part.end)) throw outsideFillable(ctx.img, part.start);
        for (let done = 0; done < total;) {
          const len = Math.min(total - done, PREADV_MAX_BYTES);
          const off = seg.offset + Number(part.start - seg.vaddr) + done;
          if (n > 0 && (segFile !== file || fileOff + bytes !== off || n === maxIov || bytes + len > PREADV_MAX_BYTES)) flush();
          if (n === 0) {
            fileOff = off;
            file = segFile;
          }
          iovecBytes(part.start + BigInt(done), len, iov, n * 16);
          n++;
          bytes += len;
          done += len;
        }
      }
    }
    flush();
  } finally {
    for (const fd of fds.values()) ctx.call('close', fd);
  }
}

function applyMadvise(ctx: TaskCtx): void {
  for (const v of dumpedVmas(ctx)) {
    const k = vmaKind(Number(v.status));
    if (k === 'vdso' || k === 'skip' || k === 'io-uring' || k === 'aio' || v.madv === undefined) continue;
    const madv = big(v.madv);
    for (let bit = 0n; madv >> bit !== 0n; bit++) {
      if (!((madv >> bit) & 1n)) continue;
      const r = ctx.raw('madvise', big(v.start), big(v.end) - big(v.start), bit);
      if (r < 0n) ctx.warn(`madvise(${bit}) of the mapping at ${hex(big(v.start))} failed (errno ${-r}); continuing without it`);
    }
  }
}

/** struct prctl_mm_map (include/uapi/linux/prctl.h): 11 u64 fields, auxv pointer, auxv_size, exe_fd. */
function mmMapStruct(mm: MessageValue, auxvAddr: bigint, auxvSize: number, exeFd: number): Buffer {
  const b = Buffer.alloc(104);
  const fields = ['mm_start_code', 'mm_end_code', 'mm_start_data', 'mm_end_data', 'mm_start_brk', 'mm_brk',
    'mm_start_stack', 'mm_arg_start', 'mm_arg_end', 'mm_env_start', 'mm_env_end'];
  fields.forEach((f, i) => writeU64(b, big(mm[f] ?? 0n), i * 8));
  writeU64(b, auxvAddr, 88);
  writeU32(b, auxvSize, 96);
  writeU32(b, exeFd, 100);
  return b;
}

function setMmMap(ctx: TaskCtx): void {
  const mm = ctx.img.mm;
  const auxv = ((mm.mm_saved_auxv as (bigint | number)[] | undefined) ?? []).map(big);
  const auxvBuf = Buffer.alloc(auxv.length * 8);
  auxv.forEach((v, i) => writeU64(auxvBuf, v, i * 8));
  const auxvAddr = ctx.put(auxvBuf, 1024);
  const exe = regFile(ctx.img, Number(mm.exe_file_id), 'the executable');
  const exeFd = openImagePath(ctx, String(exe.name), O_CLOEXEC, 'the executable', S_IFREG);
  try {
    const at = ctx.put(mmMapStruct(mm, auxvAddr, auxvBuf.length, exeFd), 512);
    const r = ctx.raw('prctl', PR_SET_MM, PR_SET_MM_MAP, at, 104, 0);
    if (r === -1n) {
      // EPERM: setting exe_file needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE; the rest does not.
      ctx.put(mmMapStruct(mm, auxvAddr, auxvBuf.length, 0xffffffff), 512);
      ctx.call('prctl', PR_SET_MM, PR_SET_MM_MAP, at, 104, 0);
      ctx.warn(`/proc/${ctx.pid}/exe could not be set to ${String(exe.name)} (EPERM: no CAP_CHECKPOINT_RESTORE); it names cryo's stub`);
    } else if (r < 0n) {
      throw new RestoreError('FAILED', `errno ${-r} from prctl(PR_SET_MM, PR_SET_MM_MAP) in the restored task`);
    }
  } finally {
    ctx.call('close', exeFd);
  }
}

export function rebuildMemory(ctx: TaskCtx): void {
  // cryo's own areas first, while the stub's memory still holds the stack (s390x passes mmap's
  // arguments in memory: after the cleanup below they go in the scratch area).
  mapScratch(ctx);
  replaceStubMappings(ctx);
  const fixup = mapVmas(ctx);
  const lazy = ctx.lazyPages ? lazyRanges(ctx.img, dumpPageSize(ctx.img, ctx.arch.pageSize)) : [];
  fillPages(ctx, lazy);
  restoreAioRings(ctx);
  if (lazy.length > 0) ctx.lazyFd = registerLazy(ctx, lazy);
  writeOldVdso(ctx);
  const batch = batchFor(ctx);
  for (const v of fixup) batch.add('mprotect', big(v.start), big(v.end) - big(v.start), Number(v.prot));
  batch.flush();
  restoreMemoryTags(ctx);
  applyMadvise(ctx);
  if (ctx.img.mm.thp_disabled === true) ctx.call('prctl', PR_SET_THP_DISABLE, 1, 0, 0, 0);
  setMmMap(ctx);
}
