// Rebuilds the task's address space inside the stub, by injected syscalls: the stub's vDSO
// becomes the task's (stub-vdso.ts), cryo's scratch areas go in a hole (scratch.ts), every
// dumped VMA is mapped at its address, pages are written into place (by cryo's threads or the
// task's injected preadv), then protections, madvise and PR_SET_MM_MAP.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { PageReader } from '../images/pages.js';
import { PageChain } from '../images/page-chain.js';
import type { MessageValue } from '../images/value.js';
import type { RestoreImages } from '../shared/restore-images.js';
import { IOV_MAX, iovecBytes, writeU32, writeU64 } from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';
import { reportProgress } from '../progress.js';
import { regFile } from './preflight.js';
import { openInTask, type TaskCtx } from '../shared/task-ctx.js';
import { vmaKind } from '../shared/vma-kinds.js';
import { inAddressOrder, rangeStart } from '../proc/index.js';
import { mapShmemVma } from '../shared/shmem.js';
import { SHM_EXEC, SHM_RDONLY, SHM_REMAP } from '../shared/sysv-ipc.js';
import { FillableRanges, outsideFillable } from './fillable.js';
import { lazyRanges, registerLazy, remoteOnlyRanges } from './lazy.js';
import { intersect, withoutRanges, type Range } from '../shared/ranges.js';
import { dumpPageSize } from './page-size.js';
import { inheritedRanges, inheritedVmas, parentProt } from './inherited.js';
import { fillInherited, type InheritedRun } from './fill-inherited.js';
import { fillParallel, fillThreads, type PageRun } from './fill-parallel.js';
import { restoreAioRings } from './aio.js';
import { installGuards } from './guards.js';
import { restoreMemoryTags } from './mem-tags.js';
import { big, dumpedVmas, hex } from './dumped-layout.js';
import { batchFor, mapScratch } from './scratch.js';
import { MappedFiles } from './mapped-files.js';
import type { SyscallBatch } from '../inject/index.js';
import { replaceStubMappings, writeOldVdso } from './stub-vdso.js';
import { openImagePath, S_IFREG } from '../shared/image-paths.js';
import { O_CLOEXEC } from '../shared/constants.js';
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE } from '../arch/mman.js';

const PR_SET_MM = 35;
const PR_SET_MM_MAP = 14;
const PR_SET_THP_DISABLE = 41;


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
function mapVmas(ctx: TaskCtx, batch: SyscallBatch): MessageValue[] {
  const fixup: MessageValue[] = [];
  const inherited = new Set(inheritedVmas(ctx));
  const files = new MappedFiles(ctx, inherited);
  try {
    mapEach(ctx, batch, inherited, fixup, files);
    files.closeAll(batch);
    batch.flush();
  } catch (e) {
    files.closeNow();
    throw e;
  }
  return fixup;
}

/** The address ranges the dump has pages for (its own, its chain's, lazy ones), asked in address order. */
class PagedRanges {
  private readonly runs: Range[] = [];
  private at = 0;

  constructor(ctx: TaskCtx) {
    if (!existsSync(ctx.img.pagemapFile)) return;
    const page = dumpPageSize(ctx.img, ctx.arch.pageSize);
    const reader = new PageReader(ctx.img.pagemapFile, undefined, page);
    try {
      const cols = reader.columns();
      const size = BigInt(page);
      for (let i = 0; i < cols.count; i++) this.runs.push({ start: cols.vaddr[i]!, end: cols.vaddr[i]! + BigInt(cols.nrPages[i]!) * size });
    } finally {
      reader.close();
    }
    inAddressOrder(this.runs, rangeStart);
  }

  /** Whether a page lies in [start, end); calls come with `start` rising (dumped VMAs in order). */
  any(start: bigint, end: bigint): boolean {
    if (this.at > 0 && this.runs[this.at - 1]!.end > start) this.at = 0; // out of order: search again
    while (this.at < this.runs.length && this.runs[this.at]!.end <= start) this.at++;
    const r = this.runs[this.at];
    return r !== undefined && r.start < end;
  }
}

function mapEach(ctx: TaskCtx, batch: SyscallBatch, inherited: ReadonlySet<MessageValue>, fixup: MessageValue[], files: MappedFiles): void {
  const paged = new PagedRanges(ctx);
  const anon = new AnonRuns(batch);
  for (const v of dumpedVmas(ctx)) {
    const kind = vmaKind(Number(v.status));
    if (kind === 'skip' || kind === 'vdso' || kind === 'io-uring' || kind === 'packet-ring') continue;
    const start = big(v.start);
    const len = big(v.end) - start;
    const prot = Number(v.prot);
    if (inherited.has(v)) {
      // The parent's mapping stays (its pages shared); writable while the differing pages are written.
      const rw = prot | PROT_READ | PROT_WRITE;
      if (parentProt(ctx, v) !== rw) batch.add('mprotect', start, len, rw);
      if (prot !== rw) fixup.push(v);
      continue;
    }
    const flags = (Number(v.flags) | MAP_FIXED) >>> 0;
    if (kind === 'aio') {
      // The dumped ring's bytes, read back by restoreAioRings once the pages are in.
      batch.addMmap(start, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      if (prot !== (PROT_READ | PROT_WRITE)) fixup.push(v);
      continue;
    }
    // A private mapping starts writable for its pages; one with none gets its own protection at once:
    // a reservation (terabytes of PROT_NONE, as MariaDB's) mapped writable would be charged to
    // the commit limit and refused (ENOMEM), where the task's never was.
    const unpaged = (kind === 'anon-private' || kind === 'file-private') && !paged.any(start, big(v.end));
    if (kind === 'anon-private') {
      const mprot = unpaged ? prot : prot | PROT_READ | PROT_WRITE;
      anon.map(start, start + len, mprot, flags | MAP_ANONYMOUS);
      if (prot !== mprot) fixup.push(v);
      continue;
    }
    anon.flush();
    if (kind === 'shmem' || kind === 'sysv-shm') {
      batch.flush(); // these calls use the scratch area and must find the mappings before them in place
      if (kind === 'shmem' ? mapShmemVma(ctx, v) : attachSysvShm(ctx, v)) fixup.push(v);
      continue;
    }
    const fd = files.fdFor(v, batch);
    // Private mappings get their dirty pages written later, so they start writable; shared ones keep the file's access.
    const mprot = kind === 'file-private' && !unpaged ? prot | PROT_READ | PROT_WRITE : prot;
    batch.addMmap(start, len, mprot, flags, fd, big(v.pgoff));
    if (mprot !== prot) fixup.push(v);
  }
  anon.flush();
}

/** mmap flags under which adjacent fresh anonymous mappings are one VMA to the kernel (it merges them). */
const MERGEABLE_FLAGS = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE;

/**
 * Private anonymous mappings queued as few mmaps as the kernel would leave VMAs: adjacent ones of
 * the same protection and plain flags in one call (mapped one by one, the kernel merges them into
 * one VMA anyway; the later mprotects and madvises split it where the task had it split). A task of
 * 10,000 mappings that differ only after their pages are in needs one mmap, not 10,000.
 */
class AnonRuns {
  private run: { start: bigint; end: bigint; prot: number; flags: number } | undefined;

  constructor(private readonly batch: SyscallBatch) {}

  map(start: bigint, end: bigint, prot: number, flags: number): void {
    const r = this.run;
    if (r !== undefined && r.end === start && r.prot === prot && r.flags === flags && (flags & ~MERGEABLE_FLAGS) === 0) {
      r.end = end;
      return;
    }
    this.flush();
    this.run = { start, end, prot, flags };
  }

  flush(): void {
    const r = this.run;
    if (r === undefined) return;
    this.run = undefined;
    this.batch.addMmap(r.start, r.end - r.start, r.prot, r.flags, -1, 0);
  }
}

/**
 * Fills the pages: the runs this dump and its chain hold, without the vDSO's, lazy and inherited
 * ranges, go in by several threads of cryo (fill-parallel.ts) when large, else by the task's own
 * injected preadv. Inherited ranges are compared with the parent's pages (fill-inherited.ts);
 * returns the parent's pages the child has none of, to drop.
 */
function fillPages(ctx: TaskCtx, lazy: readonly Range[]): Range[] {
  const page = dumpPageSize(ctx.img, ctx.arch.pageSize);
  const inherited = inheritedRanges(ctx);
  const skip = inAddressOrder(dumpedVmas(ctx).filter((v) => vmaKind(Number(v.status)) === 'vdso' || vmaKind(Number(v.status)) === 'skip')
    .map((v) => ({ start: big(v.start), end: big(v.end) }))
    .concat(lazy, inherited), rangeStart);
  // Pages of mappings kept from the parent: compared with the parent's, written where they differ.
  const inheritedPages: InheritedRun[] = [];
  // The pages of this dump and, for in_parent runs, of the dumps of its chain (preflight checked them).
  const chain = new PageChain(ctx.img.dir, path.basename(ctx.img.pagemapFile), page);
  const fillable = new FillableRanges(ctx.img);
  const unskipped = outside(skip);
  let lastSegFile = '';
  let segFileAbs = '';
  const segments = [...chain.segments()];
  const totalBytes = segments.reduce((a, s) => a + s.len, 0);
  const runs: PageRun[] = [];
  let runBytes = 0;
  for (const seg of segments) {
    if (seg.file !== lastSegFile) [lastSegFile, segFileAbs] = [seg.file, path.resolve(seg.file)];
    const segFile = segFileAbs;
    for (const part of inherited.length === 0 ? [] : intersect([{ start: seg.vaddr, end: seg.vaddr + BigInt(seg.len) }], inherited)) {
      if (!fillable.covers(part.start, part.end)) throw outsideFillable(ctx.img, part.start);
      inheritedPages.push({ ...part, file: segFile, offset: seg.offset + Number(part.start - seg.vaddr) });
    }
    // The kernel's own vdso pages are not written; a run may go on past them into the next
    // mapping (arm64 puts ld.so's data right above the vdso), and those pages are.
    for (const part of unskipped(seg.vaddr, seg.vaddr + BigInt(seg.len))) {
      if (!fillable.covers(part.start, part.end)) throw outsideFillable(ctx.img, part.start);
      const len = Number(part.end - part.start);
      runs.push({ file: segFile, off: seg.offset + Number(part.start - seg.vaddr), addr: part.start, len });
      runBytes += len;
    }
  }
  reportProgress('restore', 0, totalBytes);
  const threads = fillThreads(runBytes);
  if (threads > 0) fillParallel(ctx, runs, threads, totalBytes);
  else fillByPreadv(ctx, runs, totalBytes);
  return fillInherited(ctx, inherited, inheritedPages, page);
}

/** Bytes one injected preadv asks for at most (under the kernel's MAX_RW_COUNT; small enough for progress). */
const PREADV_MAX_BYTES = 64 << 20;

/**
 * The runs by injected preadv from the pages image straight into the task's memory: one copy, as
 * a plain read() into fresh memory, and up to IOV_MAX runs per call (the image holds the runs
 * back to back, so consecutive runs are one file range). The iovecs go to the scratch area.
 */
function fillByPreadv(ctx: TaskCtx, runs: readonly PageRun[], totalBytes: number): void {
  const scratch = ctx.scratch;
  if (!scratch) throw new Error('internal: no scratch memory in the task yet');
  const maxIov = Math.min(IOV_MAX, Math.floor(scratch.size / 16));
  const iov = Buffer.alloc(maxIov * 16);
  const fds = new Map<string, number>();
  let file = '';
  let n = 0;
  let bytes = 0;
  let fileOff = 0;
  let moved = 0;
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
    for (const run of runs) {
      for (let done = 0; done < run.len;) {
        const len = Math.min(run.len - done, PREADV_MAX_BYTES);
        const off = run.off + done;
        if (n > 0 && (run.file !== file || fileOff + bytes !== off || n === maxIov || bytes + len > PREADV_MAX_BYTES)) flush();
        if (n === 0) {
          fileOff = off;
          file = run.file;
        }
        iovecBytes(run.addr + BigInt(done), len, iov, n * 16);
        n++;
        bytes += len;
        done += len;
      }
    }
    flush();
  } finally {
    for (const fd of fds.values()) ctx.call('close', fd);
  }
}

/**
 * [start, end) without `holes` (sorted by start), for ranges asked in rising order: a sparse task's
 * 100,000 page runs mostly miss the few holes (the vDSO, lazy and inherited ranges), and are
 * answered without sorting the holes or making a list for each.
 */
function outside(holes: readonly Range[]): (start: bigint, end: bigint) => Range[] {
  let at = 0;
  let last = -1n;
  return (start, end) => {
    if (start < last) at = 0; // out of order: look from the first hole again
    last = start;
    while (at < holes.length && holes[at]!.end <= start) at++;
    let to = at;
    while (to < holes.length && holes[to]!.start < end) to++;
    return to === at ? [{ start, end }] : withoutRanges(start, end, holes.slice(at, to));
  };
}

/** Every dumped madvise bit of every mapping, in one batch that goes on past a failure (a warning each). */
function applyMadvise(ctx: TaskCtx): void {
  const calls: { name: string; args: bigint[] }[] = [];
  for (const v of dumpedVmas(ctx)) {
    const k = vmaKind(Number(v.status));
    if (k === 'vdso' || k === 'skip' || k === 'io-uring' || k === 'packet-ring' || k === 'aio' || v.madv === undefined) continue;
    const madv = big(v.madv);
    for (let bit = 0n; madv >> bit !== 0n; bit++) {
      if ((madv >> bit) & 1n) calls.push({ name: 'madvise', args: [big(v.start), big(v.end) - big(v.start), bit] });
    }
  }
  if (calls.length === 0) return;
  batchFor(ctx).runEach(calls).forEach((r, i) => {
    const [start, , bit] = calls[i]!.args;
    if (r < 0n) ctx.warn(`madvise(${bit}) of the mapping at ${hex(start!)} failed (errno ${-r}); continuing without it`);
  });
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

/** prctl_mm_map.exe_fd that leaves the executable as it is. */
const NO_EXE = 0xffffffff;

/** `parent` (restored, then forked into the task) had the task's executable. */
function sameExe(ctx: TaskCtx, parent: RestoreImages | undefined): boolean {
  const name = (img: RestoreImages) => String(regFile(img, Number(img.mm.exe_file_id), 'the executable').name);
  return parent !== undefined && name(parent) === name(ctx.img);
}

/** PR_SET_MM_MAP: queued in `batch` where the executable stays (a forked child's), else run (after the batch). */
function setMmMap(ctx: TaskCtx, parent: RestoreImages | undefined, batch: SyscallBatch): void {
  const mm = ctx.img.mm;
  const auxv = ((mm.mm_saved_auxv as (bigint | number)[] | undefined) ?? []).map(big);
  const auxvBuf = Buffer.alloc(auxv.length * 8);
  auxv.forEach((v, i) => writeU64(auxvBuf, v, i * 8));
  const auxvAddr = ctx.put(auxvBuf, 1024);
  const at = ctx.put(mmMapStruct(mm, auxvAddr, auxvBuf.length, NO_EXE), 512);
  // A child forked from its restored parent has that executable already (the kernel would refuse it again while mapped: EBUSY).
  if (sameExe(ctx, parent)) {
    batch.add('prctl', PR_SET_MM, PR_SET_MM_MAP, at, 104, 0);
    return;
  }
  batch.flush();
  const exe = regFile(ctx.img, Number(mm.exe_file_id), 'the executable');
  const exeFd = openImagePath(ctx, String(exe.name), O_CLOEXEC, 'the executable', S_IFREG);
  try {
    ctx.put(mmMapStruct(mm, auxvAddr, auxvBuf.length, exeFd), 512);
    const r = ctx.raw('prctl', PR_SET_MM, PR_SET_MM_MAP, at, 104, 0);
    if (r === -1n) {
      // EPERM: setting exe_file needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE; the rest does not.
      ctx.put(mmMapStruct(mm, auxvAddr, auxvBuf.length, NO_EXE), 512);
      ctx.call('prctl', PR_SET_MM, PR_SET_MM_MAP, at, 104, 0);
      ctx.warn(`/proc/${ctx.pid}/exe could not be set to ${String(exe.name)} (EPERM: no CAP_CHECKPOINT_RESTORE); it names cryo's stub`);
    } else if (r < 0n) {
      throw new RestoreError('FAILED', `errno ${-r} from prctl(PR_SET_MM, PR_SET_MM_MAP) in the restored task`);
    }
  } finally {
    ctx.call('close', exeFd);
  }
}

/** `parent`: the images of the restored process `ctx` was forked from (it starts with that one's memory). */
export function rebuildMemory(ctx: TaskCtx, parent?: RestoreImages): void {
  // cryo's own areas first, while the stub's memory still holds the stack (s390x passes mmap's
  // arguments in memory: after the cleanup below they go in the scratch area).
  mapScratch(ctx);
  // The stub's munmaps and the dumped mappings in one stop, where the vDSO stays put.
  const mapping = batchFor(ctx);
  replaceStubMappings(ctx, mapping);
  const fixup = mapVmas(ctx, mapping);
  const lazy = ctx.lazyPages ? lazyRanges(ctx.img, dumpPageSize(ctx.img, ctx.arch.pageSize)) : [];
  if (!ctx.lazyPages) {
    const remote = remoteOnlyRanges(ctx.img, dumpPageSize(ctx.img, ctx.arch.pageSize));
    if (remote.length > 0) throw new RestoreError('FAILED', `the dump in ${ctx.img.dir} holds task ${ctx.pid}'s pages at 0x${remote[0]!.start.toString(16)} only on a page server (a lazy dump): restore with --lazy-pages and \`cryo lazy-pages --page-server\``);
  }
  const notInherited = fillPages(ctx, lazy);
  installGuards(ctx);
  restoreAioRings(ctx);
  if (lazy.length > 0) ctx.lazyFd = registerLazy(ctx, lazy);
  writeOldVdso(ctx);
  // The parent's pages a forked child did not have (MADV_DONTNEED keeps guard markers), the final
  // protections and the mm's fields (which look at addresses, not protections): one stop.
  const batch = batchFor(ctx);
  for (const h of notInherited) batch.add('madvise', h.start, h.end - h.start, MADV_DONTNEED);
  for (const v of fixup) batch.add('mprotect', big(v.start), big(v.end) - big(v.start), Number(v.prot));
  setMmMap(ctx, parent, batch);
  batch.flush();
  restoreMemoryTags(ctx);
  applyMadvise(ctx);
  // A child inherits the flag from its parent: cleared again where it did not have it.
  const thpOff = ctx.img.mm.thp_disabled === true;
  if (thpOff || parent?.mm.thp_disabled === true) ctx.call('prctl', PR_SET_THP_DISABLE, thpOff ? 1 : 0, 0, 0, 0);
  registerMembarriers(ctx);
}

/**
 * membarrier registrations belong to the memory: the dump's mask (MEMBARRIER_CMD_GET_REGISTRATIONS)
 * holds the REGISTER command of each, given again here. Without them the task's expedited
 * barriers fail with EPERM.
 */
function registerMembarriers(ctx: TaskCtx): void {
  const mask = Number((ctx.img.core.tc as MessageValue | undefined)?.membarrier_registration_mask ?? 0);
  for (let bit = 0; bit < 32; bit++) {
    if ((mask >>> bit) & 1) ctx.call('membarrier', 2 ** bit, 0, 0);
  }
}
