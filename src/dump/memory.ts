/**
 * The address space: mm-PID.img (every VMA with CRIU's status bits, mm_* fields, auxv) and the
 * private pages (pagemap-PID.img + pages-N.img). Pages are read with process_vm_readv, or through
 * /proc/PID/mem where that cannot read (PROT_NONE).
 */
import { closeSync, lstatSync, openSync, readSync, statSync } from 'node:fs';
import {
  readAuxv, readPageRuns, readMapFilesLink, mapFilesName, procPath, type ProcStat, type Vma,
} from '../proc/index.js';
import { processVmReadv } from '../sys/index.js';
import { PageWriter, PE_LAZY, PE_PRESENT, type MessageValue } from '../images/index.js';
import { DumpError } from './errors.js';
import type { FileTable } from './files.js';

const MAP_SHARED = 0x1;
const MAP_PRIVATE = 0x2;
const MAP_ANONYMOUS = 0x20;
const S = {
  REGULAR: 1 << 0, VSYSCALL: 1 << 2, VDSO: 1 << 3, HEAP: 1 << 5, FILE_PRIVATE: 1 << 6, FILE_SHARED: 1 << 7,
  ANON_SHARED: 1 << 8, ANON_PRIVATE: 1 << 9, VVAR: 1 << 12, MEMFD: 1 << 14,
};
/** Mappings of the kernel's internal shmem files: memfds and shared anonymous memory (/dev/zero). */
const SHMEM_KINDS = new Set(['memfd', 'dev-zero', 'anon-shmem-named']);
/** smaps VmFlags -> mmap flags CRIU keeps. */
const VMFLAG_MAP: Record<string, number> = { gd: 0x100, lo: 0x2000, nr: 0x4000, ht: 0x40000, dp: 0x08 };
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
    if (flags & 0x08) flags &= ~MAP_PRIVATE; // MAP_DROPPABLE replaces MAP_PRIVATE
    const prot = (v.read ? 1 : 0) | (v.write ? 2 : 0) | (v.exec ? 4 : 0);
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
  return (d.flags & MAP_ANONYMOUS) !== 0 && (d.flags & MAP_PRIVATE) !== 0 && (d.flags & 0x2000) === 0
    && (d.status & (S.VDSO | S.VVAR | S.VSYSCALL)) === 0 && (d.flags & 0x40000) === 0;
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
}

/** Writes pagemap-PID.img and pages-ID.img: the present (or swapped) pages of private VMAs. */
export function dumpPages(pid: number, vmas: readonly DumpVma[], pageSize: number, pagemapFile: string, pagesFile: string, pagesId: number, sp: bigint): PagesResult {
  const pw = new PageWriter({ pagemapFile, pagesFile, pagesId, pageSize });
  const page = BigInt(pageSize);
  let memfd = -1;
  const memFd = () => (memfd >= 0 ? memfd : (memfd = openSync(procPath(pid, 'mem'), 'r')));
  const res: PagesResult = { scanned: 0, written: 0 };
  const chunkPages = Math.max(1, (1 << 20) / pageSize);
  const buf = Buffer.allocUnsafe(chunkPages * pageSize);
  const spPage = sp & ~(page - 1n);
  try {
    for (const d of vmas) {
      if (!isPrivate(d)) continue;
      const filePrivate = (d.status & S.FILE_PRIVATE) !== 0;
      const lazy = canBeLazy(d);
      res.scanned += Number((d.vma.end - d.vma.start) / page);
      for (const run of readPageRuns(pid, d.vma.start, d.vma.end, { pageSize })) {
        if (filePrivate && run.file) continue; // not copied-on-write: the file has it
        for (let i = 0; i < run.pages; i += chunkPages) {
          const n = Math.min(chunkPages, run.pages - i);
          const addr = run.start + BigInt(i) * page;
          const view = buf.subarray(0, n * pageSize);
          readMemory(pid, memFd, addr, view);
          // The page under the stack pointer is never lazy (CRIU: is_stack), the rest of a lazy VMA is.
          const flagsAt = (p: number) => PE_PRESENT | (lazy && addr + BigInt(p) * page !== spPage ? PE_LAZY : 0);
          for (let p = 0; p < n;) {
            const f = flagsAt(p);
            let q = p + 1;
            while (q < n && flagsAt(q) === f) q++;
            pw.addPages(addr + BigInt(p) * page, view.subarray(p * pageSize, q * pageSize), f);
            p = q;
          }
          res.written += n;
        }
      }
    }
  } finally {
    pw.close();
    if (memfd >= 0) closeSync(memfd);
  }
  return res;
}

/** The mm_entry: mm_* from /proc/PID/stat, brk from the task, auxv, VMAs, exe id, dumpable, THP. */
export function mmEntry(pid: number, stat: ProcStat, brk: bigint, exeFileId: number, vmas: readonly DumpVma[], dumpable: number, thpDisabled: boolean): MessageValue {
  return {
    mm_start_code: stat.startCode, mm_end_code: stat.endCode, mm_start_data: stat.startData, mm_end_data: stat.endData,
    mm_start_stack: stat.startStack, mm_start_brk: stat.startBrk, mm_brk: brk,
    mm_arg_start: stat.argStart, mm_arg_end: stat.argEnd, mm_env_start: stat.envStart, mm_env_end: stat.envEnd,
    exe_file_id: exeFileId,
    mm_saved_auxv: readAuxv(pid).flatMap((e) => [BigInt(e.type), e.value]),
    vmas: vmas.map((d) => d.entry),
    dumpable,
    thp_disabled: thpDisabled,
  };
}
