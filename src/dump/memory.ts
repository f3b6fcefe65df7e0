/**
 * The private pages of the address space (pagemap-PID.img + pages-N.img; the VMAs are
 * src/dump/vmas.ts, mm-PID.img src/dump/mm-image.ts). Present pages are found with PAGEMAP_SCAN and moved
 * by injected vmsplices into pipes spliced into the pages file or a page server's socket (one copy;
 * many per stop with the arch's batch runner); without injection, or
 * where that cannot read (PROT_NONE), with process_vm_readv or /proc/PID/mem.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { procPath } from '../proc/index.js';
import { IOV_MAX, processVmReadv, readMany, type RemoteRange } from '../sys/index.js';
import { PE_LAZY, PE_PARENT, PE_PRESENT } from '../images/index.js';
import { reportProgress } from '../progress.js';
import { DumpError } from '../shared/dump-error.js';
import { S, canBeLazy, isAioRing, savesPages, type DumpVma } from './vmas.js';
import { PageScanner, type Run } from './page-scanner.js';
import { pageNumber, scanGroups } from './page-runs.js';
import type { Range } from '../shared/ranges.js';
import { SpliceMover, vmspliceMinBytes, type PageInjection } from './splice-mover.js';
import type { PageSink } from './page-sink.js';


/** Reads `len` bytes of the task at addr: process_vm_readv, then /proc/PID/mem for what it could not read. */
function readMemory(pid: number, memFd: () => number, addr: bigint, into: Buffer): void {
  let got = 0;
  try {
    got = processVmReadv(pid, addr, into);
  } catch {
    got = 0;
  }
  while (got < into.length) {
    const n = readSync(memFd(), into, got, into.length - got, addr + BigInt(got));
    if (n <= 0) throw new DumpError('FAILED', `cannot read the memory of task ${pid} at 0x${(addr + BigInt(got)).toString(16)}`);
    got += n;
  }
}

/**
 * Reads `ranges` packed into `into` (as long as their total): one process_vm_readv for all of them,
 * then range by range (readMemory) from where it stopped (an unreadable page, PROT_NONE).
 */
function readRanges(pid: number, memFd: () => number, ranges: readonly RemoteRange[], into: Buffer): void {
  let got = 0;
  try {
    got = readMany(pid, ranges as RemoteRange[], into);
  } catch {
    got = 0;
  }
  let at = 0;
  for (const r of ranges) {
    const end = at + r.length;
    if (end > got) {
      const from = Math.max(at, got);
      readMemory(pid, memFd, r.addr + BigInt(from - at), into.subarray(from, end));
    }
    at = end;
  }
}

/**
 * Runs every step; throws the first failure after all have run, unless the work they clean up
 * after failed (`quiet`): that failure is the one the caller sees.
 */
function closeAll(steps: (() => void)[], quiet: boolean): void {
  let failed: unknown;
  for (const s of steps) {
    try {
      s();
    } catch (e) {
      failed ??= e;
    }
  }
  if (failed !== undefined && !quiet) throw failed;
}

export interface PagesResult {
  scanned: number;
  written: number;
  /** Pages left to the parent dump (PE_PARENT): unchanged since it. */
  skippedParent: number;
  /** Milliseconds spent writing pages into the image (stats-dump's memwrite_time). */
  writeMs: number;
}

/**
 * Puts the present (or swapped) pages of private VMAs into `sink` (pagemap-PID.img and pages-N.img,
 * or a page server), and closes it. With `injection`, readable pages move by injected vmsplice
 * (see SpliceMover); others (and all without it) by process_vm_readv or /proc/PID/mem into a buffer.
 */
export function dumpPages(pid: number, vmas: readonly DumpVma[], pageSize: number, sink: PageSink, sp: bigint, injection?: PageInjection, inParent: readonly Range[] = [], guards: readonly Range[] = []): PagesResult {
  const scanner = new PageScanner(pid, pageSize);
  const page = BigInt(pageSize);
  let memfd = -1;
  const memFd = () => (memfd >= 0 ? memfd : (memfd = openSync(procPath(pid, 'mem'), 'r')));
  const res: PagesResult = { scanned: 0, written: 0, skippedParent: 0, writeMs: 0 };
  const chunkPages = Math.max(1, (1 << 20) / pageSize);
  let buf: Buffer | undefined;
  let pipe: SpliceMover | undefined;
  const spPage = sp & ~(page - 1n);
  // Pieces of runs waiting to be read together into `buf` (the other path): one process_vm_readv
  // and one write for many runs (a small process has dozens of runs of a few pages). This and the
  // pipe's `batch` below are never both filled (each flushes the other first: the bytes go in
  // address order); they stay two because their limits (buffer and IOV_MAX; pipe capacity and the
  // task's iovec area) and their movers differ.
  let gather: RemoteRange[] = [];
  let gatherBytes = 0;
  const flushGather = () => {
    if (gather.length === 0) return;
    const view = buf!.subarray(0, gatherBytes);
    readRanges(pid, memFd, gather, view);
    sink.write(view);
    movedBytes += view.length;
    reportProgress('dump', movedBytes, totalBytes);
    gather = [];
    gatherBytes = 0;
  };
  // Ranges waiting for the pipe (vmsplice path).
  let batch: { addr: bigint; len: number }[] = [];
  let batchBytes = 0;
  /** The page number where the batch's last range ends. */
  let batchEnd = -1;
  const shift = BigInt(Math.log2(pageSize));
  let done = false;
  let movedBytes = 0;
  let totalBytes = 0;
  const flushBatch = () => {
    flushGather(); // bytes go in address order: what was gathered before these runs first
    if (batch.length > 0) {
      pipe!.move(batch);
      movedBytes += batchBytes;
      reportProgress('dump', movedBytes, totalBytes);
    }
    batch = [];
    batchBytes = 0;
  };
  try {
    // Pages left to the parent, with whether their mapping may be filled lazily at restore.
    const pagemapParent: { run: Run; lazy: boolean }[] = [];
    // Find every run first (cheap with PAGEMAP_SCAN): the total is what progress counts against.
    const todo: { d: DumpVma; runs: Run[] }[] = [];
    for (const { d, runs: all } of scanGroups(scanner, vmas.filter((d) => savesPages(d) || isAioRing(d)), page)) {
      const filePrivate = (d.status & S.FILE_PRIVATE) !== 0;
      const pages = pageNumber(d.vma.end, pageSize, shift) - pageNumber(d.vma.start, pageSize, shift);
      res.scanned += pages;
      if (isAioRing(d)) {
        // The kernel writes a ring's events behind the page tables' back: all of it, always (never the parent's).
        todo.push({ d, runs: [{ start: d.vma.start, pages, file: false }] });
        totalBytes += pages * pageSize;
        continue;
      }
      // File pages of a private file mapping are not copied-on-write: the file has them. Guard
      // regions look swapped out but have no page (reading them fails with EIO): mm.img has them.
      // (Without guards or a parent, as most dumps are, no run is split: a sparse task has 100,000.)
      const own = filePrivate ? all.filter((r) => !r.file) : all;
      const kept = guards.length === 0 ? own : own.flatMap((r) => splitByRanges(r, guards, page).filter((p) => !p.inside).map((p) => p.run));
      if (inParent.length === 0) {
        for (const r of kept) totalBytes += r.pages * pageSize;
        todo.push({ d, runs: kept });
        continue;
      }
      // Pages unchanged since the parent dump are recorded as its (PE_PARENT), without bytes.
      const runs: Run[] = [];
      for (const r of kept) {
        for (const piece of splitByRanges(r, inParent, page)) {
          if (piece.inside) {
            pagemapParent.push({ run: piece.run, lazy: canBeLazy(d) });
            res.skippedParent += piece.run.pages;
          } else {
            runs.push(piece.run);
            totalBytes += piece.run.pages * pageSize;
          }
        }
      }
      todo.push({ d, runs });
    }
    // A few pages are read quicker than a pipe is set up in the task (pipe2, pidfd_getfd, close).
    if (injection && totalBytes >= vmspliceMinBytes() && process.env.CRYO_NO_VMSPLICE !== '1') pipe = new SpliceMover(injection, (rfd, bytes) => sink.splice(rfd, bytes), pageSize);
    const capacity = pipe?.capacity ?? 0;
    const maxIov = pipe?.maxIov ?? 0;
    reportProgress('dump', 0, totalBytes);
    // The page under the stack pointer is never lazy (CRIU: is_stack), the rest of a lazy VMA is.
    // Page numbers, not bigints: a sparse task has 100,000 runs.
    const spNumber = pageNumber(spPage, pageSize, shift);
    const addRun = (run: Run, where: number, lazy: boolean) => {
      const flags = lazy ? where | PE_LAZY : where;
      const first = lazy ? pageNumber(run.start, pageSize, shift) : 0;
      if (lazy && spNumber >= first && spNumber < first + run.pages) {
        const before = spNumber - first;
        if (before > 0) sink.entry(run.start, before, flags);
        sink.entry(spPage, 1, where);
        if (before + 1 < run.pages) sink.entry(spPage + page, run.pages - before - 1, flags);
      } else {
        sink.entry(run.start, run.pages, flags);
      }
    };
    let nextParent = 0;
    const parentRunsBefore = (addr: bigint) => {
      for (; nextParent < pagemapParent.length && pagemapParent[nextParent]!.run.start < addr; nextParent++) {
        const p = pagemapParent[nextParent]!;
        addRun(p.run, PE_PARENT, p.lazy);
      }
    };
    for (const { d, runs } of todo) {
      const lazy = canBeLazy(d);
      const spliced = pipe !== undefined && d.vma.read;
      for (const run of runs) {
        parentRunsBefore(run.start);
        addRun(run, PE_PRESENT, lazy);
        if (spliced) {
          flushGather();
          // Runs go to the pipe in pieces of at most its capacity, IOV_MAX pieces per call; a
          // piece that follows the last one on (the next VMA's) extends it: 20,000 one-page VMAs
          // take a few iovecs, not 20,000.
          const first = pageNumber(run.start, pageSize, shift);
          for (let i = 0; i < run.pages;) {
            const room = Math.floor((capacity - batchBytes) / pageSize);
            if (room === 0 || batch.length === maxIov) { flushBatch(); continue; }
            const n = Math.min(room, run.pages - i);
            const last = batch[batch.length - 1];
            if (last !== undefined && batchEnd === first + i) last.len += n * pageSize;
            else batch.push({ addr: i === 0 ? run.start : run.start + BigInt(i) * page, len: n * pageSize });
            batchEnd = first + i + n;
            batchBytes += n * pageSize;
            i += n;
          }
          res.written += run.pages;
          continue;
        }
        if (batch.length > 0) flushBatch();
        buf ??= Buffer.allocUnsafe(chunkPages * pageSize);
        for (let i = 0; i < run.pages;) {
          if (gatherBytes === buf.length || gather.length === IOV_MAX) flushGather();
          const n = Math.min((buf.length - gatherBytes) / pageSize, run.pages - i);
          gather.push({ addr: run.start + BigInt(i) * page, length: n * pageSize });
          gatherBytes += n * pageSize;
          i += n;
        }
        res.written += run.pages;
      }
    }
    parentRunsBefore(1n << 64n);
    flushBatch(); // and what is gathered
    sink.finish();
    res.writeMs = sink.writeMs;
    // The pipes and the batch area leave the task (after a failure, the dump's undo takes them away).
    pipe?.close();
    done = true;
  } finally {
    // Each closes whatever the others throw (a full disk fails the pagemap's last flush).
    closeAll([() => pipe?.release(), () => scanner.close(), () => sink.close(), () => { if (memfd >= 0) closeSync(memfd); }], !done);
  }
  return res;
}

/** `run` cut into pieces inside and outside `ranges` (sorted, not overlapping). */
export function splitByRanges(run: Run, ranges: readonly Range[], page: bigint): { run: Run; inside: boolean }[] {
  const out: { run: Run; inside: boolean }[] = [];
  const end = run.start + BigInt(run.pages) * page;
  const piece = (s: bigint, e: bigint, inside: boolean) => {
    if (e > s) out.push({ run: { start: s, pages: Number((e - s) / page), file: run.file }, inside });
  };
  // First range ending after the run's start.
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid]!.end <= run.start) lo = mid + 1;
    else hi = mid;
  }
  let at = run.start;
  for (let k = lo; k < ranges.length && ranges[k]!.start < end; k++) {
    const r = ranges[k]!;
    const s = r.start > at ? r.start : at;
    const e = r.end < end ? r.end : end;
    piece(at, s, false);
    piece(s, e, true);
    at = e;
  }
  piece(at, end, false);
  return out;
}
