// The VMAs of a dump as CRIU records them in mm-PID.img: status bits, mmap flags and madvise bits
// from smaps, the file or shmem each maps; which of them hold private pages to save, which may be lazy.
import { lstatSync, statSync, type Stats } from 'node:fs';
import { kernelDev } from '../shared/dev-numbers.js';
import { readMapFilesLink, mapFilesName, procPath, type Vma } from '../proc/index.js';
import { type MessageValue } from '../images/index.js';
import { DumpError } from '../shared/dump-error.js';
import { VMA } from '../shared/vma-kinds.js';
import { isRingVma, noteRingVma } from '../files/io-uring.js';
import { notePacketRing } from '../files/packet-ring.js';
import { processVmReadv } from '../sys/index.js';
import { AIO_HEADER_BYTES, aioHeaderProblem, readAioHeader } from '../shared/aio-ring.js';
import type { FileTable, MappedFileWay } from './files.js';
import type { ProtVmFlag } from '../arch/types.js';
import {
  MADV_DONTDUMP, MADV_DONTFORK, MADV_HUGEPAGE, MADV_MERGEABLE, MADV_NOHUGEPAGE, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WIPEONFORK,
  MAP_ANONYMOUS, MAP_DROPPABLE, MAP_GROWSDOWN, MAP_HUGETLB, MAP_LOCKED, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE } from '../arch/mman.js';

export const S = {
  REGULAR: 1 << 0, VSYSCALL: 1 << 2, VDSO: 1 << 3, HEAP: 1 << 5, FILE_PRIVATE: 1 << 6, FILE_SHARED: 1 << 7,
  ANON_SHARED: 1 << 8, ANON_PRIVATE: 1 << 9, SYSVIPC: 1 << 10, VVAR: 1 << 12, MEMFD: 1 << 14,
};
/** Mappings of the kernel's internal shmem files: memfds and shared anonymous memory (/dev/zero). */
const SHMEM_KINDS = new Set(['memfd', 'dev-zero', 'anon-shmem-named']);
/** smaps VmFlags -> mmap flags CRIU keeps. */
const VMFLAG_MAP: Record<string, number> = { gd: MAP_GROWSDOWN, lo: MAP_LOCKED, nr: MAP_NORESERVE, ht: MAP_HUGETLB, dp: MAP_DROPPABLE };
/** smaps VmFlags -> the MADV_* number whose bit CRIU sets in `madv`. */
const VMFLAG_MADV: Record<string, number> = {
  sr: MADV_SEQUENTIAL, rr: MADV_RANDOM, dc: MADV_DONTFORK, dd: MADV_DONTDUMP, mg: MADV_MERGEABLE,
  hg: MADV_HUGEPAGE, nh: MADV_NOHUGEPAGE, wf: MADV_WIPEONFORK,
};

export interface DumpVma {
  vma: Vma;
  entry: MessageValue;
  status: number;
  flags: number;
}

function mapFileFlags(pid: number, v: Vma, viaMapFiles: boolean): number {
  // Without map_files: the least the mapping needs (a shared writable one, read-write).
  if (!viaMapFiles) return v.shared && v.write ? 2 : 0;
  // The map_files link's mode says how the mapped file was opened (CRIU: vma_get_mapfile_flags).
  const m = lstatSync(procPath(pid, `map_files/${mapFilesName(v.start, v.end)}`)).mode;
  const r = (m & 0o400) !== 0;
  const w = (m & 0o200) !== 0;
  return r && w ? 2 : w ? 1 : 0;
}

/** What reading /proc/PID/map_files takes, for the refusals that need it. */
export const MAP_FILES_ADVICE = 'reading /proc/PID/map_files takes CAP_CHECKPOINT_RESTORE (or root): run cryo as root, or give the node binary that runs it the capability (setcap cap_checkpoint_restore+ep NODE; see cryo check)';

const permissionDenied = (e: unknown) => ['EPERM', 'EACCES'].includes((e as NodeJS.ErrnoException)?.code ?? '');

/**
 * The file a VMA maps, as cryo opens and names it: its /proc/PID/map_files link (the file even
 * when deleted); where cryo may not read map_files (no CAP_CHECKPOINT_RESTORE), the path maps
 * names, if the file there is still the mapped one (same device and inode).
 */
function mappedFileOf(pid: number, v: Vma, what: string): MappedFileWay {
  const mapFile = procPath(pid, `map_files/${mapFilesName(v.start, v.end)}`);
  try {
    return { openPath: mapFile, st: statSync(mapFile), name: readMapFilesLink(pid, v.start, v.end).path, viaMapFiles: true };
  } catch (e) {
    if (!permissionDenied(e)) throw e;
  }
  let st: Stats | undefined;
  try {
    st = v.deleted || v.kind !== 'file' ? undefined : statSync(v.name);
  } catch { /* gone or unreadable: refused below */ }
  if (st === undefined || BigInt(st.ino) !== v.inode || kernelDev(BigInt(st.dev)) !== ((v.devMajor << 20) | v.devMinor) >>> 0) {
    throw new DumpError('PERMISSION', `task ${pid} maps ${what} at 0x${v.start.toString(16)}, which cryo reaches only through /proc/${pid}/map_files: ${MAP_FILES_ADVICE}`);
  }
  return { openPath: v.name, name: v.name, st, viaMapFiles: false };
}

/**
 * mappedFileOf's answers for the whole dump (FileTable.mappedFiles), by what maps says of the VMA
 * (device, inode, name): a process maps each library in several VMAs and a forked tree maps the
 * same ones in every process, and only the file's identity and first name are kept
 * (FileTable.mappedFile, by device and inode). CRIU borrows the file of the VMA before when device
 * and inode match.
 */
function mappedFileOnce(files: FileTable, pid: number, v: Vma, what: string): MappedFileWay {
  const known = files.mappedFiles;
  const key = `${v.devMajor}:${v.devMinor}:${v.inode}:${v.deleted ? 'd' : ''}${v.name}`;
  let f = known.get(key);
  if (f === undefined) known.set(key, (f = mappedFileOf(pid, v, what)));
  return f;
}

/** What a VmFlags line gives a VMA's entry: mmap flags, madvise bits, protection bits (pkeys). */
interface VmFlagFacts { flags: number; madv: bigint; prot: number }

const NO_VM_FLAGS: readonly string[] = [];

/** By VmFlags array, which smaps shares between VMAs of the same line (10,000 VMAs, a handful of lines). */
const factsByFlags = new WeakMap<readonly ProtVmFlag[], WeakMap<readonly string[], VmFlagFacts>>();

function vmFlagFacts(vmFlags: readonly string[], protVmFlags: readonly ProtVmFlag[]): VmFlagFacts {
  let known = factsByFlags.get(protVmFlags);
  if (known === undefined) factsByFlags.set(protVmFlags, (known = new WeakMap()));
  let facts = known.get(vmFlags);
  if (facts === undefined) {
    facts = { flags: 0, madv: 0n, prot: 0 };
    for (const f of vmFlags) {
      facts.flags |= VMFLAG_MAP[f] ?? 0;
      if (VMFLAG_MADV[f] !== undefined) facts.madv |= 1n << BigInt(VMFLAG_MADV[f]!);
    }
    for (const p of protVmFlags) if (vmFlags.includes(p.vmFlag)) facts.prot |= p.protBit;
    known.set(vmFlags, facts);
  }
  return facts;
}

/** vma_entry.fd: none. One bigint for every entry (`-1n` in place makes one per VMA). */
const NO_FD = -1n;

/** Whether `v` lies in one of cryo's own areas (a loop: a closure per VMA is 10,000 objects to collect). */
function inSkipped(v: Vma, skip: readonly { start: bigint; end: bigint }[]): boolean {
  for (const s of skip) if (v.start >= s.start && v.end <= s.end) return true;
  return false;
}

/** VMAs as CRIU records them (vvar areas merged into one, cryo's own areas `skip` left out). */
export function collectVmas(pid: number, smaps: readonly Vma[], files: FileTable, skip: readonly { start: bigint; end: bigint }[], protVmFlags: readonly ProtVmFlag[] = []): DumpVma[] {
  const out: DumpVma[] = [];
  for (const v of smaps) {
    if (inSkipped(v, skip)) continue;
    const facts = vmFlagFacts(v.smaps?.vmFlags ?? NO_VM_FLAGS, protVmFlags);
    const madv = facts.madv;
    let flags = (v.shared ? MAP_SHARED : MAP_PRIVATE) | facts.flags;
    if (flags & MAP_DROPPABLE) flags &= ~MAP_PRIVATE; // MAP_DROPPABLE replaces MAP_PRIVATE
    // Huge pages of hugetlbfs (MAP_HUGETLB, SHM_HUGETLB, a hugetlbfs file): maps names them like a
    // deleted file (/anon_hugepage), which they are not; restore would need huge pages reserved.
    if (flags & MAP_HUGETLB) {
      throw new DumpError('UNSUPPORTED', `task ${pid} maps hugetlb memory (huge pages: MAP_HUGETLB, SHM_HUGETLB or a hugetlbfs file${v.name ? `, ${v.name}` : ''}) at 0x${v.start.toString(16)}: cryo cannot dump huge pages yet (transparent huge pages it can: use those)`);
    }
    const prot = (v.read ? PROT_READ : 0) | (v.write ? PROT_WRITE : 0) | (v.exec ? PROT_EXEC : 0) | facts.prot;
    let status = 0;
    let shmid = 0n;
    let pgoff = 0n;
    let fdflags: number | undefined;
    let ring = false;
    let packetRing = false;
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
      const f = mappedFileOf(pid, v, `shared memory (${v.name})`);
      if (!f.st.isFile()) throw new DumpError('UNSUPPORTED', `task ${pid} maps ${v.name} at 0x${v.start.toString(16)}, which is not a shmem file: cryo cannot dump it`);
      const link = f.name;
      shmid = BigInt(files.mappedMemfd(f.openPath, link.startsWith('/memfd:') ? link.slice('/memfd:'.length) : link));
      status |= S.MEMFD | (v.shared ? S.FILE_SHARED : S.FILE_PRIVATE);
      pgoff = v.offset;
      fdflags = mapFileFlags(pid, v, f.viaMapFiles);
    } else if (v.kind === 'sysv-shm') {
      // A System V segment: its inode number is the segment's id (dump/sysv-ipc.ts keeps its contents).
      status |= S.SYSVIPC;
      shmid = v.inode;
      pgoff = v.offset;
    } else if (isRingVma(v)) {
      status |= S.FILE_SHARED | VMA.IO_URING; // shmid: the ring's file id, set when its descriptor is dumped
      pgoff = v.offset;
      ring = true;
    } else if (v.kind === 'aio') {
      checkAioRing(pid, v);
      status = VMA.AIORING; // CRIU marks a libaio ring with this bit alone; its pages are all dumped
    } else if (v.kind === 'file' && /^socket:\[\d+\]$/.test(v.name)) {
      // A packet socket's ring: no pages of its own to save (as CRIU); shmid is the socket's file id, set when it is dumped.
      status = S.REGULAR | VMA.SOCKET;
      pgoff = v.offset;
      packetRing = true;
    } else if (v.kind === 'file') {
      const f = mappedFileOnce(files, pid, v, v.deleted ? `the deleted file ${v.name}` : v.name);
      if (!f.st.isFile()) {
        if (!(f.st.isCharacterDevice() && f.st.rdev === 0x105)) {
          throw new DumpError('UNSUPPORTED', `task ${pid} maps ${v.name} at 0x${v.start.toString(16)}, which is not a regular file: cryo cannot dump device mappings`);
        }
      }
      shmid = BigInt(files.mappedFile(f.openPath, f.name, f.st));
      status |= v.shared ? S.FILE_SHARED : S.FILE_PRIVATE;
      pgoff = v.offset;
      fdflags = mapFileFlags(pid, v, f.viaMapFiles);
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
    const entry: MessageValue = { start: v.start, end: v.end, pgoff, shmid, prot, flags, status, fd: NO_FD };
    if (madv !== 0n) entry.madv = madv;
    if (fdflags !== undefined) entry.fdflags = fdflags;
    if (ring) noteRingVma(files, pid, v, entry);
    if (packetRing) notePacketRing(files, pid, v, entry);
    out.push({ vma: v, entry, status, flags });
  }
  return out;
}

/** A libaio ring (io_setup): restore makes a new one and moves it here (restore/aio.ts). */
export function isAioRing(d: DumpVma): boolean {
  return (d.status & VMA.AIORING) !== 0;
}

/** Refuses a ring whose header is not the kernel's (restore would rebuild it from nonsense). */
function checkAioRing(pid: number, v: Vma): void {
  const b = processVmReadv(pid, v.start, AIO_HEADER_BYTES);
  const why = b.length === AIO_HEADER_BYTES ? aioHeaderProblem(readAioHeader(b), v.end - v.start) : 'its header cannot be read';
  if (why !== undefined) throw new DumpError('UNSUPPORTED', `task ${pid} maps an AIO ring at 0x${v.start.toString(16)}, but ${why}: cryo cannot dump it`);
}

/**
 * A private mapping whose pages the dump saves. Not a MAP_DROPPABLE one: the kernel may drop its
 * pages at any time (they read back as zero), so it comes back empty, as CRIU 4.2 restores it.
 */
export function savesPages(d: DumpVma): boolean {
  return (d.status & S.REGULAR) !== 0 && (d.status & (S.ANON_PRIVATE | S.FILE_PRIVATE)) !== 0 && (d.status & S.VVAR) === 0
    && (d.flags & MAP_DROPPABLE) === 0;
}

export function canBeLazy(d: DumpVma): boolean {
  return (d.flags & MAP_ANONYMOUS) !== 0 && (d.flags & MAP_PRIVATE) !== 0 && (d.flags & MAP_LOCKED) === 0
    && (d.status & (S.VDSO | S.VVAR | S.VSYSCALL)) === 0 && (d.flags & MAP_HUGETLB) === 0;
}
