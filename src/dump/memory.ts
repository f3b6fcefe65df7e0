/**
 * The address space: mm-PID.img (every VMA with CRIU's status bits, mm_* fields, auxv) and the
 * private pages (pagemap-PID.img + pages-N.img). Present pages are found with PAGEMAP_SCAN and moved
 * by injected vmsplices into pipes spliced into the pages file (one copy; many per stop with the
 * arch's batch runner); without injection, or
 * where that cannot read (PROT_NONE), with process_vm_readv or /proc/PID/mem.
 */
import { closeSync, lstatSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import {
  readAuxv, readPageRuns, readMapFilesLink, mapFilesName, procPath, type ProcStat, type Vma,
} from '../proc/index.js';
import {
  IOV_MAX, PAGE_IS_FILE, PAGE_IS_PRESENT, PAGE_IS_SWAPPED, SysError, iovecBytes, pagemapScan, pidfdGetfd, pidfdOpen,
  processVmReadv, processVmWritev, rawSyscall,
} from '../sys/index.js';
import { PE_LAZY, PE_PRESENT, createImageFile, type MessageValue } from '../images/index.js';
import { PagemapImageWriter } from '../images/pages.js';
import { InjectError, SyscallBatch, mapBatchArea, type BatchArea, type Injector, type Scratch, type UndoList } from '../inject/index.js';
import { reportProgress } from '../progress.js';
import { DumpError } from '../shared/dump-error.js';
import type { FileTable } from './files.js';
import { F_GETPIPE_SZ, F_SETPIPE_SZ, O_CLOEXEC, O_NONBLOCK, SPLICE_F_NONBLOCK } from '../shared/constants.js';
import { readI32 } from '../sys/native-endian.js';
import { MAP_ANONYMOUS, MAP_DROPPABLE, MAP_GROWSDOWN, MAP_HUGETLB, MAP_LOCKED, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE } from '../arch/mman.js';

const S = {
  REGULAR: 1 << 0, VSYSCALL: 1 << 2, VDSO: 1 << 3, HEAP: 1 << 5, FILE_PRIVATE: 1 << 6, FILE_SHARED: 1 << 7,
  ANON_SHARED: 1 << 8, ANON_PRIVATE: 1 << 9, SYSVIPC: 1 << 10, VVAR: 1 << 12, MEMFD: 1 << 14,
};
/** Mappings of the kernel's internal shmem files: memfds and shared anonymous memory (/dev/zero). */
const SHMEM_KINDS = new Set(['memfd', 'dev-zero', 'anon-shmem-named']);
/** smaps VmFlags -> mmap flags CRIU keeps. */
const VMFLAG_MAP: Record<string, number> = { gd: MAP_GROWSDOWN, lo: MAP_LOCKED, nr: MAP_NORESERVE, ht: MAP_HUGETLB, dp: MAP_DROPPABLE };
/** smaps VmFlags -> the MADV_* number whose bit CRIU sets in `madv`. */
const VMFLAG_MADV: Record<string, number> = { sr: 2, rr: 1, dc: 10, dd: 16, mg: 12, hg: 14, nh: 15, wf: 18 };

export interface DumpVma {
  vma: Vma;
  entry: MessageValue;
  status: number;
  flags: number;
}

function mapFileFlags(pid: number, v: Vma): number {
  // The map_files link's mode says how the mapped file was opened (CRIU: vma_get_mapfile_flags).
  const m = lstatSync(procPath(pid, `map_files/${mapFilesName(v.start, v.end)}`)).mode;
  const r = (m & 0o400) !== 0;
  const w = (m & 0o200) !== 0;
  return r && w ? 2 : w ? 1 : 0;
}

/** VMAs as CRIU records them (vvar areas merged into one, cryo's scratch page left out). */
export function collectVmas(pid: number, smaps: readonly Vma[], files: FileTable, skip: { start: bigint; end: bigint } | undefined): DumpVma[] {
  const out: DumpVma[] = [];
  for (const v of smaps) {
    if (skip && v.start === skip.start && v.end === skip.end) continue;
    const vmFlags = v.smaps?.vmFlags ?? [];
    let flags = v.shared ? MAP_SHARED : MAP_PRIVATE;
    let madv = 0n;
    for (const f of vmFlags) {
      flags |= VMFLAG_MAP[f] ?? 0;
      if (VMFLAG_MADV[f] !== undefined) madv |= 1n << BigInt(VMFLAG_MADV[f]!);
    }
    if (flags & MAP_DROPPABLE) flags &= ~MAP_PRIVATE; // MAP_DROPPABLE replaces MAP_PRIVATE
    const prot = (v.read ? PROT_READ : 0) | (v.write ? PROT_WRITE : 0) | (v.exec ? PROT_EXEC : 0);
    let status = 0;
    let shmid = 0n;
    let pgoff = 0n;
    let fdflags: number | undefined;
    switch (v.kind) {
      case 'vsyscall': status = S.VSYSCALL; break;
      case 'vdso': status = S.REGULAR | (v.read && v.exec ? S.VDSO : 0); break;
      case 'vvar': case 'vvar_vclock': status = S.REGULAR | (v.read ? S.VVAR : 0); break;
      case 'heap': status = S.REGULAR | S.HEAP; break;
      case 'uprobes': continue; // kernel-made, not restored (CRIU skips it)
      default: status = S.REGULAR;
    }
    if (SHMEM_KINDS.has(v.kind)) {
      // As CRIU 4.2 does (it can open map_files): a MEMFD mapping of a memfd file entry, whose
      // inode (memfd.img, pages in pagemap-shmem-INODE.img) holds the content. Shared anonymous
      // memory is one too, named /dev/zero; two VMAs of one segment share the entry.
      const mapFile = procPath(pid, `map_files/${mapFilesName(v.start, v.end)}`);
      if (!statSync(mapFile).isFile()) throw new DumpError('UNSUPPORTED', `task ${pid} maps ${v.name} at 0x${v.start.toString(16)}, which is not a shmem file: cryo cannot dump it`);
      const link = readMapFilesLink(pid, v.start, v.end).path;
      shmid = BigInt(files.mappedMemfd(mapFile, link.startsWith('/memfd:') ? link.slice('/memfd:'.length) : link));
      status |= S.MEMFD | (v.shared ? S.FILE_SHARED : S.FILE_PRIVATE);
      pgoff = v.offset;
      fdflags = mapFileFlags(pid, v);
    } else if (v.kind === 'sysv-shm') {
      // A System V segment: its inode number is the segment's id (dump/sysv-ipc.ts keeps its contents).
      status |= S.SYSVIPC;
      shmid = v.inode;
      pgoff = v.offset;
    } else if (v.kind === 'file') {
      {
        const st = statSync(procPath(pid, `map_files/${mapFilesName(v.start, v.end)}`));
        if (!st.isFile()) {
          if (!(st.isCharacterDevice() && st.rdev === 0x105)) {
            throw new DumpError('UNSUPPORTED', `task ${pid} maps ${v.name} at 0x${v.start.toString(16)}, which is not a regular file: cryo cannot dump device mappings`);
          }
        }
        const link = readMapFilesLink(pid, v.start, v.end);
        shmid = BigInt(files.mappedFile(procPath(pid, `map_files/${mapFilesName(v.start, v.end)}`), link.path, st));
      }
      status |= v.shared ? S.FILE_SHARED : S.FILE_PRIVATE;
      pgoff = v.offset;
      fdflags = mapFileFlags(pid, v);
      if (v.shared && fdflags !== 0) {
        // The task writes this file through the mapping (dirty pages reach it even after the dump):
        // its mtime proves nothing, so restore must not insist on it.
        const i = files.stats.findIndex((s) => BigInt(s.id) === shmid);
        if (i >= 0) files.stats.splice(i, 1);
      }
    } else if (v.kind === 'anonymous' || v.kind === 'heap' || v.kind === 'stack' || v.kind === 'vdso' || v.kind === 'vvar'
      || v.kind === 'vvar_vclock' || v.kind === 'vsyscall' || v.kind === 'anon-named' || v.kind === 'special') {
      if (v.shared) throw new DumpError('UNSUPPORTED', `task ${pid} has shared anonymous memory at 0x${v.start.toString(16)}: cryo cannot dump it yet`);
      status |= S.ANON_PRIVATE;
      flags |= MAP_ANONYMOUS;
    } else {
      throw new DumpError('UNSUPPORTED', `task ${pid} maps ${v.name || v.kind} at 0x${v.start.toString(16)} (${v.kind}): cryo cannot dump such mappings yet`);
    }
    const prev = out[out.length - 1];
    if (prev && (prev.status & S.VVAR) && (status & S.VVAR) && prev.vma.end === v.start) {
      // CRIU keeps [vvar] and [vvar_vclock] as one area.
      prev.entry.end = v.end;
      prev.vma = { ...prev.vma, end: v.end };
      continue;
    }
    const entry: MessageValue = { start: v.start, end: v.end, pgoff, shmid, prot, flags, status, fd: -1n };
    if (madv !== 0n) entry.madv = madv;
    if (fdflags !== undefined) entry.fdflags = fdflags;
    out.push({ vma: v, entry, status, flags });
  }
  return out;
}

function isPrivate(d: DumpVma): boolean {
  return (d.status & S.REGULAR) !== 0 && (d.status & (S.ANON_PRIVATE | S.FILE_PRIVATE)) !== 0 && (d.status & S.VVAR) === 0;
}

function canBeLazy(d: DumpVma): boolean {
  return (d.flags & MAP_ANONYMOUS) !== 0 && (d.flags & MAP_PRIVATE) !== 0 && (d.flags & MAP_LOCKED) === 0
    && (d.status & (S.VDSO | S.VVAR | S.VSYSCALL)) === 0 && (d.flags & MAP_HUGETLB) === 0;
}

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

export interface PagesResult {
  scanned: number;
  written: number;
  /** Milliseconds spent writing pages into the image (stats-dump's memwrite_time). */
  writeMs: number;
}

/** Runs of pages the task has (present or swapped), with whether each is a file's page (not copied on write). */
interface Run { start: bigint; pages: number; file: boolean }

/**
 * The present or swapped pages of [start, end): PAGEMAP_SCAN (one ioctl for up to 1024 runs) where
 * the kernel has it, else /proc/PID/pagemap read 8 bytes per page.
 */
class PageScanner {
  private fd = -1;
  private scan: boolean;
  constructor(private readonly pid: number, private readonly pageSize: number) {
    this.scan = process.env.CRYO_NO_PAGEMAP_SCAN !== '1';
  }

  runs(start: bigint, end: bigint): Run[] {
    if (this.scan) {
      try {
        if (this.fd < 0) this.fd = openSync(procPath(this.pid, 'pagemap'), 'r');
        const out: Run[] = [];
        const page = BigInt(this.pageSize);
        for (let at = start; at < end;) {
          // Room for as many regions as the range can hold, up to 1024 (most VMAs are small).
          const maxRegions = Number((end - at) / page < 1024n ? (end - at) / page : 1024n);
          const r = pagemapScan(this.fd, { start: at, end, maxRegions, categoryAnyofMask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED, returnMask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_FILE });
          for (const g of r.regions) out.push({ start: g.start, pages: Number((g.end - g.start) / page), file: (g.categories & PAGE_IS_FILE) !== 0 });
          if (r.walkEnd <= at) break;
          at = r.walkEnd;
        }
        return out;
      } catch (e) {
        if (!(e instanceof SysError) || (e.code !== 'EINVAL' && e.code !== 'ENOTTY' && e.code !== 'EOPNOTSUPP')) throw e;
        this.scan = false; // a kernel before 6.7
      }
    }
    return readPageRuns(this.pid, start, end, { pageSize: this.pageSize }).map((r) => ({ start: r.start, pages: r.pages, file: r.file }));
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * The runs of each of `vmas` (in address order), scanned once per stretch of adjacent VMAs rather
 * than once per VMA (a task with 20k small VMAs: 20k scans otherwise), then cut at VMA boundaries.
 */
function* scanGroups(scanner: PageScanner, vmas: readonly DumpVma[], page: bigint): Generator<{ d: DumpVma; runs: Run[] }> {
  for (let i = 0; i < vmas.length;) {
    let j = i + 1;
    while (j < vmas.length && vmas[j]!.vma.start === vmas[j - 1]!.vma.end) j++;
    const runs = scanner.runs(vmas[i]!.vma.start, vmas[j - 1]!.vma.end);
    let k = 0;
    for (const d of vmas.slice(i, j)) {
      const mine: Run[] = [];
      for (; k < runs.length; k++) {
        const r = runs[k]!;
        const rEnd = r.start + BigInt(r.pages) * page;
        if (r.start >= d.vma.end) break;
        const s = r.start > d.vma.start ? r.start : d.vma.start;
        const e = rEnd < d.vma.end ? rEnd : d.vma.end;
        if (e > s) mine.push(s === r.start && e === rEnd ? r : { start: s, pages: Number((e - s) / page), file: r.file });
        if (rEnd > d.vma.end) break; // the rest of this run belongs to the next VMA
      }
      yield { d, runs: mine };
    }
    i = j;
  }
}

/** pagemap-PID.img: one pagemap_entry per run of pages with the same flags (as PageWriter writes them). */
class PagemapRecorder {
  private readonly img: PagemapImageWriter;
  private pending: { vaddr: bigint; nrPages: number; flags: number } | undefined;
  constructor(file: string, pagesId: number, private readonly pageSize: number) {
    this.img = new PagemapImageWriter(file, pagesId);
  }

  add(vaddr: bigint, nrPages: number, flags: number): void {
    const p = this.pending;
    if (p && p.flags === flags && p.vaddr + BigInt(p.nrPages * this.pageSize) === vaddr) {
      p.nrPages += nrPages;
      return;
    }
    this.flush();
    this.pending = { vaddr, nrPages, flags };
  }

  private flush(): void {
    const p = this.pending;
    if (!p) return;
    this.img.add(p.vaddr, p.nrPages, p.flags);
    this.pending = undefined;
  }

  close(): void {
    try {
      this.flush();
    } finally {
      this.img.close();
    }
  }
}

/** The injector and scratch page of the dump: with them, pages move by injected vmsplice. */
export interface PageInjection {
  inj: Injector;
  scratch: Scratch;
  undo: UndoList;
  /** The task's address space as read after the scratch page was mapped (where cryo's batch area may go). */
  maps: readonly Vma[];
}

const SPLICE_F_MOVE = 1;
/** Below this many bytes of pages, process_vm_readv + write beats setting up the pipe (CRYO_VMSPLICE_MIN_BYTES overrides). */
const vmspliceMinBytes = () => Number(process.env.CRYO_VMSPLICE_MIN_BYTES ?? 4 << 20);
/** Pipes filled per stop of the task where the arch has a batch runner (CRYO_VMSPLICE_PIPES overrides). */
const splicePipes = () => Math.max(1, Number(process.env.CRYO_VMSPLICE_PIPES ?? 16));
/** Table pages of the dump's batch area: 64 calls per 4 KiB page. */
const BATCH_TABLE_PAGES = 1;

/** The largest pipe an unprivileged process may ask for (bigger pipes = fewer injected calls). */
function pipeMaxSize(): number {
  try {
    return Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8').trim()) || 1 << 20;
  } catch {
    return 1 << 20;
  }
}

/** The size asked for each pipe: the largest allowed, or CRYO_VMSPLICE_PIPE_BYTES (tests: many small batches). */
const pipeBytes = () => Number(process.env.CRYO_VMSPLICE_PIPE_BYTES ?? 0) || pipeMaxSize();

/** One pipe the task owns: its fds there, cryo's copy of the read end, its capacity in bytes. */
interface TaskPipe { tfds: [number, number]; rfd: number; capacity: number }

/**
 * Moves pages from the task into the pages file through pipes the task owns: an injected vmsplice
 * puts references to up to a pipe's worth of page runs into each (no copy), cryo splices them from
 * its copies of the read ends (pidfd_getfd) into the file (the one copy, as write() makes). Where
 * the arch has a batch runner, one stop of the task fills every pipe (see mapBatchArea); else one
 * pipe per stop, its iovecs in the scratch page.
 */
class SpliceMover {
  private readonly pipes: TaskPipe[] = [];
  private readonly dropUndo: () => void;
  private readonly area: BatchArea | undefined;
  private readonly batch: SyscallBatch;
  /** Where pipe i's iovecs go in the task: iovAt + i * iovPerPipe * 16. */
  private readonly iovAt: bigint;
  private readonly iovPerPipe: number;
  private nullFd = -1;
  /** Milliseconds spent splicing pages into the image. */
  writeMs = 0;

  constructor(private readonly pi: PageInjection, private readonly outFd: number, pageSize: number) {
    const { inj, scratch, undo, maps } = pi;
    const want = inj.arch.syscall.batchCode && process.env.CRYO_NO_BATCH !== '1' ? splicePipes() : 1;
    this.dropUndo = undo.push(`close cryo's pipes in task ${inj.pid}`, () => this.closeInTask());
    const pidfd = pidfdOpen(inj.pid);
    try {
      for (let i = 0; i < want; i++) {
        try {
          inj.call('pipe2', scratch.addr, O_CLOEXEC | O_NONBLOCK);
        } catch (e) {
          if (i > 0) break; // EMFILE and the like: fewer pipes do
          throw e;
        }
        const b = scratch.read(0, 8);
        const tfds: [number, number] = [readI32(b, 0), readI32(b, 4)];
        const pipe: TaskPipe = { tfds, rfd: -1, capacity: 0 };
        this.pipes.push(pipe);
        pipe.rfd = pidfdGetfd(pidfd, tfds[0]);
        for (let size = pipeBytes(); size > 4096; size >>= 1) {
          try {
            rawSyscall('fcntl', pipe.rfd, F_SETPIPE_SZ, size);
            break;
          } catch { /* EPERM: over the user's pipe limits; try half */ }
        }
        pipe.capacity = Number(rawSyscall('fcntl', pipe.rfd, F_GETPIPE_SZ, 0));
      }
    } finally {
      closeSync(pidfd);
    }
    // A page-aligned run takes one pipe slot per page: a pipe never needs more iovecs than slots.
    const slots = Math.max(...this.pipes.map((p) => Math.ceil(p.capacity / pageSize)));
    this.area = this.pipes.length > 1 ? this.tryBatchArea(maps, slots) : undefined;
    if (this.area) {
      this.iovAt = this.area.extra;
      this.iovPerPipe = Math.min(IOV_MAX, slots);
      this.batch = new SyscallBatch(() => inj, this.area.place);
    } else {
      this.iovAt = scratch.addr;
      this.iovPerPipe = Math.min(IOV_MAX, Math.floor(scratch.size / 16));
      this.batch = new SyscallBatch(() => inj, { code: undefined, table: 0n, tableSize: 0 });
      // Without a batch runner more pipes only cost fds: keep one.
      for (const p of this.pipes.splice(1)) this.closePipe(p);
    }
  }

  /**
   * The batch runner's area, or undefined where the task refuses it (a seccomp filter against mmap
   * or mprotect, no hole): pages then move one pipe per stop. A half-made area stays in the undo list.
   */
  private tryBatchArea(maps: readonly Vma[], slots: number): BatchArea | undefined {
    try {
      return mapBatchArea(this.pi.inj, this.pi.undo, maps, BATCH_TABLE_PAGES, this.pipes.length * Math.min(IOV_MAX, slots) * 16);
    } catch (e) {
      if (e instanceof InjectError) return undefined;
      throw e;
    }
  }

  /** Bytes one move() takes at most. */
  get capacity(): number {
    return this.pipes.reduce((n, p) => n + p.capacity, 0);
  }

  /** Iovecs one move() takes at most. */
  get maxIov(): number {
    return this.pipes.length * this.iovPerPipe;
  }

  /** Writes the ranges (page-aligned, at most maxIov, at most `capacity` bytes) to the file, in order. */
  move(ranges: { addr: bigint; len: number }[]): void {
    const { inj } = this.pi;
    let first = 0;
    let skip = 0; // bytes of ranges[first] already moved
    while (first < ranges.length) {
      // Fill the pipes in order: pipe i gets the next piece of the ranges up to its capacity.
      const iov = Buffer.alloc(this.pipes.length * this.iovPerPipe * 16);
      const calls: { name: string; args: (bigint | number)[] }[] = [];
      const asked: number[] = [];
      let r = first;
      let off = skip;
      for (let i = 0; i < this.pipes.length && r < ranges.length; i++) {
        let room = this.pipes[i]!.capacity;
        let n = 0;
        let bytes = 0;
        while (r < ranges.length && room > 0 && n < this.iovPerPipe) {
          const len = Math.min(ranges[r]!.len - off, room);
          iovecBytes(ranges[r]!.addr + BigInt(off), len, iov, (i * this.iovPerPipe + n) * 16);
          n++;
          bytes += len;
          room -= len;
          off += len;
          if (off === ranges[r]!.len) { r++; off = 0; }
        }
        calls.push({ name: 'vmsplice', args: [this.pipes[i]!.tfds[1], this.iovAt + BigInt(i * this.iovPerPipe * 16), n, SPLICE_F_NONBLOCK] });
        asked.push(bytes);
      }
      const used = (calls.length - 1) * this.iovPerPipe * 16 + Number(calls[calls.length - 1]!.args[2]) * 16;
      if (processVmWritev(inj.pid, this.iovAt, iov.subarray(0, used)) !== used) {
        throw new DumpError('FAILED', `cannot write cryo's iovecs into task ${inj.pid}`);
      }
      const got = this.batch.runAll(calls).map(Number);
      if (got[0] === 0) throw new DumpError('FAILED', `vmsplice injected into task ${inj.pid} moved no pages`);
      // Pages go to the file in order: after a pipe that took less than asked, later pipes' pages
      // are dropped and asked for again.
      let short = false;
      for (let i = 0; i < got.length; i++) {
        if (short) {
          this.drain(this.pipes[i]!.rfd, got[i]!, this.devNull());
          continue;
        }
        this.drain(this.pipes[i]!.rfd, got[i]!, this.outFd);
        let left = got[i]!;
        while (left > 0 && first < ranges.length) {
          const rest = ranges[first]!.len - skip;
          if (left >= rest) { left -= rest; first++; skip = 0; } else { skip += left; left = 0; }
        }
        if (got[i]! < asked[i]!) short = true;
      }
    }
  }

  private devNull(): number {
    if (this.nullFd < 0) this.nullFd = openSync('/dev/null', 'w');
    return this.nullFd;
  }

  private drain(rfd: number, bytes: number, to: number): void {
    const t0 = performance.now();
    for (let left = bytes; left > 0;) {
      const n = Number(rawSyscall('splice', rfd, null, to, null, left, SPLICE_F_MOVE));
      if (n <= 0) throw new DumpError('FAILED', `splice into the pages image moved ${n} bytes`);
      left -= n;
    }
    if (to === this.outFd) this.writeMs += performance.now() - t0;
  }

  private closePipe(p: TaskPipe): void {
    if (p.rfd >= 0) closeSync(p.rfd);
    p.rfd = -1;
    try {
      this.pi.inj.call('close', p.tfds[0]);
    } finally {
      this.pi.inj.call('close', p.tfds[1]);
    }
  }

  /** Closes the task's ends of every pipe (the undo step; cryo's copies close in close()). */
  private closeInTask(): void {
    let failed: unknown;
    for (const p of this.pipes.splice(0)) {
      try {
        this.closePipe(p);
      } catch (e) {
        failed ??= e; // close the others all the same
      }
    }
    if (failed) throw failed;
  }

  close(): void {
    try {
      this.closeInTask();
      this.dropUndo();
    } finally {
      if (this.nullFd >= 0) closeSync(this.nullFd);
      this.area?.unmap();
    }
  }
}

/**
 * Writes pagemap-PID.img and pages-ID.img: the present (or swapped) pages of private VMAs. With
 * `injection`, readable pages move by injected vmsplice (see SpliceMover); others (and all without
 * it) by process_vm_readv or /proc/PID/mem into a buffer written to the file.
 */
export function dumpPages(pid: number, vmas: readonly DumpVma[], pageSize: number, pagemapFile: string, pagesFile: string, pagesId: number, sp: bigint, injection?: PageInjection): PagesResult {
  const pagemap = new PagemapRecorder(pagemapFile, pagesId, pageSize);
  const outFd = createImageFile(pagesFile);
  const scanner = new PageScanner(pid, pageSize);
  const page = BigInt(pageSize);
  let memfd = -1;
  const memFd = () => (memfd >= 0 ? memfd : (memfd = openSync(procPath(pid, 'mem'), 'r')));
  const res: PagesResult = { scanned: 0, written: 0, writeMs: 0 };
  const chunkPages = Math.max(1, (1 << 20) / pageSize);
  let buf: Buffer | undefined;
  let pipe: SpliceMover | undefined;
  const spPage = sp & ~(page - 1n);
  // Ranges waiting for the pipe (vmsplice path).
  let batch: { addr: bigint; len: number }[] = [];
  let batchBytes = 0;
  let movedBytes = 0;
  let totalBytes = 0;
  const flushBatch = () => {
    if (batch.length > 0) {
      pipe!.move(batch);
      movedBytes += batchBytes;
      reportProgress('dump', movedBytes, totalBytes);
    }
    batch = [];
    batchBytes = 0;
  };
  try {
    // Find every run first (cheap with PAGEMAP_SCAN): the total is what progress counts against.
    const todo: { d: DumpVma; runs: Run[] }[] = [];
    for (const { d, runs: all } of scanGroups(scanner, vmas.filter(isPrivate), page)) {
      const filePrivate = (d.status & S.FILE_PRIVATE) !== 0;
      res.scanned += Number((d.vma.end - d.vma.start) / page);
      // File pages of a private file mapping are not copied-on-write: the file has them.
      const runs = filePrivate ? all.filter((r) => !r.file) : all;
      for (const r of runs) totalBytes += r.pages * pageSize;
      todo.push({ d, runs });
    }
    // A few pages are read quicker than a pipe is set up in the task (pipe2, pidfd_getfd, close).
    if (injection && totalBytes >= vmspliceMinBytes() && process.env.CRYO_NO_VMSPLICE !== '1') pipe = new SpliceMover(injection, outFd, pageSize);
    reportProgress('dump', 0, totalBytes);
    for (const { d, runs } of todo) {
      const lazy = canBeLazy(d);
      const spliced = pipe !== undefined && d.vma.read;
      for (const run of runs) {
        // The page under the stack pointer is never lazy (CRIU: is_stack), the rest of a lazy VMA is.
        const runEnd = run.start + BigInt(run.pages) * page;
        const flags = lazy ? PE_PRESENT | PE_LAZY : PE_PRESENT;
        if (lazy && spPage >= run.start && spPage < runEnd) {
          const before = Number((spPage - run.start) / page);
          if (before > 0) pagemap.add(run.start, before, flags);
          pagemap.add(spPage, 1, PE_PRESENT);
          if (before + 1 < run.pages) pagemap.add(spPage + page, run.pages - before - 1, flags);
        } else {
          pagemap.add(run.start, run.pages, flags);
        }
        if (spliced) {
          // Runs go to the pipe in pieces of at most its capacity, IOV_MAX pieces per call.
          for (let i = 0; i < run.pages;) {
            const room = Math.floor((pipe!.capacity - batchBytes) / pageSize);
            if (room === 0 || batch.length === pipe!.maxIov) { flushBatch(); continue; }
            const n = Math.min(room, run.pages - i);
            batch.push({ addr: run.start + BigInt(i) * page, len: n * pageSize });
            batchBytes += n * pageSize;
            i += n;
          }
          res.written += run.pages;
          continue;
        }
        flushBatch();
        buf ??= Buffer.allocUnsafe(chunkPages * pageSize);
        for (let i = 0; i < run.pages; i += chunkPages) {
          const n = Math.min(chunkPages, run.pages - i);
          const view = buf.subarray(0, n * pageSize);
          readMemory(pid, memFd, run.start + BigInt(i) * page, view);
          const t0 = performance.now();
          for (let off = 0; off < view.length;) off += writeSync(outFd, view, off, view.length - off);
          res.writeMs += performance.now() - t0;
          movedBytes += view.length;
          reportProgress('dump', movedBytes, totalBytes);
        }
        res.written += run.pages;
      }
    }
    flushBatch();
    res.writeMs += pipe?.writeMs ?? 0;
  } finally {
    try {
      pipe?.close();
    } finally {
      scanner.close();
      pagemap.close();
      closeSync(outFd);
      if (memfd >= 0) closeSync(memfd);
    }
  }
  return res;
}

/** The mm_entry: mm_* from /proc/PID/stat, brk from the task, auxv, VMAs, exe id, dumpable, THP. */
/**
 * mm_saved_auxv: the kernel's saved auxv as 64-bit words, as CRIU keeps it. A task with 32-bit
 * words (ia32) has two of its words in each, so the words written back at restore are its bytes.
 */
export function savedAuxvWords(pid: number, wordSize: 4 | 8): bigint[] {
  const entries = readAuxv(pid, wordSize);
  if (wordSize === 8) return entries.flatMap((e) => [BigInt(e.type), e.value]);
  return entries.map((e) => (e.value << 32n) | BigInt(e.type));
}

export function mmEntry(pid: number, stat: ProcStat, brk: bigint, exeFileId: number, vmas: readonly DumpVma[], dumpable: number, thpDisabled: boolean, wordSize: 4 | 8 = 8): MessageValue {
  return {
    mm_start_code: stat.startCode, mm_end_code: stat.endCode, mm_start_data: stat.startData, mm_end_data: stat.endData,
    mm_start_stack: stat.startStack, mm_start_brk: stat.startBrk, mm_brk: brk,
    mm_arg_start: stat.argStart, mm_arg_end: stat.argEnd, mm_env_start: stat.envStart, mm_env_end: stat.envEnd,
    exe_file_id: exeFileId,
    mm_saved_auxv: savedAuxvWords(pid, wordSize),
    vmas: vmas.map((d) => d.entry),
    dumpable,
    thp_disabled: thpDisabled,
  };
}
