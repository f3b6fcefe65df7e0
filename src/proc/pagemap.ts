// /proc/PID/pagemap: one native-endian u64 per virtual page (Documentation/admin-guide/mm/pagemap.rst).
import { endianness } from 'node:os';
import { closeProcFile, openProcFile, preadProc, procPath, type Pid } from './read.js';

/** Bits of a pagemap entry. The flags all live in the entry's high 32-bit word. */
export const PAGEMAP_BITS = {
  present: 63n,
  swapped: 62n,
  /** File page or shared anonymous page. */
  file: 61n,
  /** Guard region installed by MADV_GUARD_INSTALL (kernel 6.15+). */
  guard: 58n,
  uffdWp: 57n,
  /** Page exclusively mapped by this process. */
  exclusive: 56n,
  softDirty: 55n,
} as const;

const PFN_MASK = (1n << 55n) - 1n;
const FLAG_MASK_HI = 0xff800000; // bits 55..63 seen in the high word
const HI = { present: 1 << 31, swapped: 1 << 30, file: 1 << 29, guard: 1 << 26, uffdWp: 1 << 25, exclusive: 1 << 24, softDirty: 1 << 23 };

export interface PagemapEntry {
  present: boolean;
  swapped: boolean;
  file: boolean;
  guard: boolean;
  uffdWp: boolean;
  exclusive: boolean;
  softDirty: boolean;
  /** Page frame number when present (0 without CAP_SYS_ADMIN), else null. */
  pfn: bigint | null;
  /** Swap type and offset when swapped, else null. */
  swapType: number | null;
  swapOffset: bigint | null;
}

export function decodePagemapEntry(e: bigint): PagemapEntry {
  const bit = (b: bigint) => ((e >> b) & 1n) === 1n;
  const present = bit(PAGEMAP_BITS.present);
  const swapped = bit(PAGEMAP_BITS.swapped);
  return {
    present,
    swapped,
    file: bit(PAGEMAP_BITS.file),
    guard: bit(PAGEMAP_BITS.guard),
    uffdWp: bit(PAGEMAP_BITS.uffdWp),
    exclusive: bit(PAGEMAP_BITS.exclusive),
    softDirty: bit(PAGEMAP_BITS.softDirty),
    pfn: present ? e & PFN_MASK : null,
    swapType: swapped ? Number(e & 0x1fn) : null,
    swapOffset: swapped ? (e & PFN_MASK) >> 5n : null,
  };
}

/** A run of consecutive pages that are present or swapped and share the same flags. */
export interface PageRun {
  start: bigint;
  pages: number;
  present: boolean;
  swapped: boolean;
  file: boolean;
  exclusive: boolean;
  softDirty: boolean;
  uffdWp: boolean;
}

const littleEndian = endianness() === 'LE';

/**
 * Turns raw pagemap bytes for pages starting at `start` into runs of pages that
 * are present or swapped (absent pages are left out). Appends to `runs`, merging
 * with its last run when adjacent, so chunks can be fed one after another.
 */
export function pagemapRuns(buf: Buffer, start: bigint, pageSize: number, runs: PageRun[] = []): PageRun[] {
  const n = Math.floor(buf.length / 8);
  const hiOff = littleEndian ? 4 : 0;
  const page = BigInt(pageSize);
  let last = runs.length > 0 ? runs[runs.length - 1] : undefined;
  let lastFlags = last ? runFlags(last) : -1;
  let lastEnd = last ? last.start + BigInt(last.pages) * page : -1n;
  for (let i = 0; i < n; i++) {
    const hi = littleEndian ? buf.readUInt32LE(i * 8 + hiOff) : buf.readUInt32BE(i * 8 + hiOff);
    // A guard region's marker reads as swapped, but it has no page.
    if ((hi & (HI.present | HI.swapped)) === 0 || (hi & HI.guard) !== 0) continue;
    const flags = (hi & FLAG_MASK_HI) >>> 0;
    const addr = start + BigInt(i) * page;
    if (last && flags === lastFlags && addr === lastEnd) {
      last.pages++;
    } else {
      last = {
        start: addr,
        pages: 1,
        present: (hi & HI.present) !== 0,
        swapped: (hi & HI.swapped) !== 0,
        file: (hi & HI.file) !== 0,
        exclusive: (hi & HI.exclusive) !== 0,
        softDirty: (hi & HI.softDirty) !== 0,
        uffdWp: (hi & HI.uffdWp) !== 0,
      };
      lastFlags = flags;
      runs.push(last);
    }
    lastEnd = addr + page;
  }
  return runs;
}

function runFlags(r: PageRun): number {
  let f = 0;
  if (r.present) f |= HI.present;
  if (r.swapped) f |= HI.swapped;
  if (r.file) f |= HI.file;
  if (r.exclusive) f |= HI.exclusive;
  if (r.softDirty) f |= HI.softDirty;
  if (r.uffdWp) f |= HI.uffdWp;
  return f >>> 0;
}

/** Decodes each raw entry (for small ranges where per-page detail such as the PFN is wanted). */
export function pagemapEntries(buf: Buffer): PagemapEntry[] {
  const out: PagemapEntry[] = [];
  for (let i = 0; i + 8 <= buf.length; i += 8) out.push(decodePagemapEntry(littleEndian ? buf.readBigUInt64LE(i) : buf.readBigUInt64BE(i)));
  return out;
}

export interface PagemapOptions {
  pageSize?: number;
  /** Entries read per pread; 64Ki entries = 512 KiB covers 256 MiB of 4 KiB pages. */
  chunkPages?: number;
}

function readRange(pid: Pid, start: bigint, end: bigint, opts: PagemapOptions, each: (buf: Buffer, at: bigint) => void): void {
  const pageSize = opts.pageSize ?? 4096;
  const page = BigInt(pageSize);
  if (start % page !== 0n || end % page !== 0n || end < start) throw new Error(`pagemap range ${start.toString(16)}-${end.toString(16)} is not page aligned`);
  const path = procPath(pid, 'pagemap');
  const fd = openProcFile(path);
  try {
    const total = (end - start) / page;
    const chunk = BigInt(opts.chunkPages ?? 65536);
    const buf = Buffer.allocUnsafe(Number(chunk < total ? chunk : total) * 8);
    for (let done = 0n; done < total; ) {
      const want = total - done < chunk ? total - done : chunk;
      const view = buf.subarray(0, Number(want) * 8);
      const at = start + done * page;
      const got = preadProc(path, fd, view, (at / page) * 8n);
      if (got === 0) break; // past the end of the address space
      each(view.subarray(0, got - (got % 8)), at);
      done += BigInt(Math.floor(got / 8));
    }
  } finally {
    closeProcFile(fd);
  }
}

/** Runs of present/swapped pages in [start, end), read in chunks. */
export function readPageRuns(pid: Pid, start: bigint, end: bigint, opts: PagemapOptions = {}): PageRun[] {
  const runs: PageRun[] = [];
  readRange(pid, start, end, opts, (buf, at) => pagemapRuns(buf, at, opts.pageSize ?? 4096, runs));
  return runs;
}

/** Every page's decoded entry in [start, end): meant for small ranges. */
export function readPagemapEntries(pid: Pid, start: bigint, end: bigint, opts: PagemapOptions = {}): PagemapEntry[] {
  const out: PagemapEntry[] = [];
  readRange(pid, start, end, opts, (buf) => out.push(...pagemapEntries(buf)));
  return out;
}
