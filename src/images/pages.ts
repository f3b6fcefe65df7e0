// Memory pages: pagemap-*.img (a pagemap_head, then one pagemap_entry per run
// of pages) and the raw pages-*.img that holds the contents of every run
// marked PE_PRESENT, back to back. Pages are streamed: memory use is bounded
// by the largest run a caller hands over, never by the pages file. A reader
// holds the pagemap's runs as columns (28 bytes each).

import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { ImageError } from './errors.js';
import { PE_PRESENT } from './flags.js';
import { ImageReader, type Image } from './image.js';
import { headMagicFor, magicValue } from './magics.js';
import type { MessageValue } from './value.js';
import { readU32, readI32 } from '../sys/native-endian.js';
import { faultPoint } from '../fault.js';

/** x86_64/aarch64(4K)/s390x page size; callers pass their architecture's. */
export const DEFAULT_PAGE_SIZE = 4096;

export interface PageRun {
  readonly vaddr: bigint;
  readonly nrPages: number;
  /** PE_* bits (flags.ts). */
  readonly flags: number;
  /** Where the run's contents start in the pages file; -1 when it has none there (not PE_PRESENT). */
  readonly offset: number;
}

export const PAGEMAP_HEAD_MAGIC = headMagicFor('PAGEMAP')!;
export const PAGEMAP_MAGIC = magicValue('PAGEMAP')!;

function runOf(v: MessageValue): Omit<PageRun, 'offset'> {
  // Old images have only compat_nr_pages and in_parent; read them as CRIU does.
  const nr = v.nr_pages !== undefined ? Number(v.nr_pages) : Number(v.compat_nr_pages);
  let flags = typeof v.flags === 'number' ? v.flags : PE_PRESENT;
  if (v.flags === undefined && v.in_parent === true) flags = 1;
  return { vaddr: v.vaddr as bigint, nrPages: nr, flags };
}

/** The runs of a pagemap as columns. */
export interface PagemapColumns {
  count: number;
  vaddr: BigUint64Array;
  nrPages: Float64Array;
  flags: Uint32Array;
  /** Where the run's pages start in the pages file, counted in pages; -1 when it has none there (not PE_PRESENT). */
  firstPage: Float64Array;
}

/** Columns filled a run at a time, in the pagemap's order. */
class ColumnsBuilder {
  private pages = 0;
  readonly cols: PagemapColumns;
  constructor(cap: number) {
    this.cols = { count: 0, vaddr: new BigUint64Array(cap), nrPages: new Float64Array(cap), flags: new Uint32Array(cap), firstPage: new Float64Array(cap) };
  }

  push(vaddr: bigint, nrPages: number, flags: number): void {
    const c = this.cols;
    if (c.count === c.vaddr.length) this.grow();
    const i = c.count++;
    c.vaddr[i] = vaddr;
    c.nrPages[i] = nrPages;
    c.flags[i] = flags;
    if (flags & PE_PRESENT) {
      c.firstPage[i] = this.pages;
      this.pages += nrPages;
    } else c.firstPage[i] = -1;
  }

  private grow(): void {
    const c = this.cols;
    const n = c.vaddr.length * 2 + 16;
    const more = <T extends BigUint64Array | Float64Array | Uint32Array>(a: T, b: T): T => (b.set(a as never), b);
    c.vaddr = more(c.vaddr, new BigUint64Array(n));
    c.nrPages = more(c.nrPages, new Float64Array(n));
    c.flags = more(c.flags, new Uint32Array(n));
    c.firstPage = more(c.firstPage, new Float64Array(n));
  }
}

/**
 * The pagemap's runs if its pagemap_head holds `pagesId` (see readPagemapRuns): a head with
 * another id, like anything the column decoder does not take, is undefined.
 */
function decodePagemapRuns(file: string, pagesId: number): PagemapColumns | undefined {
  const r = readPagemapRuns(file);
  return r?.pagesId === pagesId ? r.cols : undefined;
}

/** Keeps a pagemap's decoded runs among the recent ones (the oldest go past the limits). */
function remember(file: string, bytes: Buffer, pagesId: number, cols: PagemapColumns): void {
  const had = recentPagemaps.get(file);
  if (had) recentRuns -= had.cols.count;
  recentPagemaps.delete(file);
  recentPagemaps.set(file, { bytes, pagesId, cols });
  recentRuns += cols.count;
  while (recentPagemaps.size > RECENT_PAGEMAPS && recentRuns > RECENT_RUNS) {
    const [oldest, old] = recentPagemaps.entries().next().value!;
    recentRuns -= old.cols.count;
    recentPagemaps.delete(oldest);
  }
}

/**
 * The last pagemaps decoded, by file name: a restore goes through each up to six times (page size,
 * vDSO choice, preflight, lazy runs, the fill), which for 100,000 runs cost a second under load.
 * At least the last 8, more while they hold few runs together: a tree's preflight reads every
 * process's pagemap before the fill reads them again (50 small processes: ~40 runs each).
 */
const recentPagemaps = new Map<string, { bytes: Buffer; pagesId: number; cols: PagemapColumns }>();
const RECENT_PAGEMAPS = 8;
/** ~28 bytes a run in the columns: 200,000 runs are ~6 MB. */
const RECENT_RUNS = 200_000;
let recentRuns = 0;

/**
 * A pagemap file's pages id and runs, decoded without building a message per entry (a sparse task
 * has 100k of them): head magics, a pagemap_head with only pages_id, then pagemap_entry messages
 * whose fields are varints 1-5. The recent pagemaps' runs again when its bytes are the same (read
 * each time and compared: an image changed since is decoded anew). Undefined for anything else
 * (other layouts, unknown fields, a damaged file, one that cannot be read): the generic decoder
 * reads those and says what is wrong.
 */
function readPagemapRuns(file: string): { pagesId: number; cols: PagemapColumns } | undefined {
  let b: Buffer;
  try {
    b = readFileSync(file);
  } catch {
    return undefined;
  }
  const had = recentPagemaps.get(file);
  if (had && had.bytes.equals(b)) return had;
  const r = pagemapRunsOfBytes(b);
  if (r !== undefined) remember(file, b, r.pagesId, r.cols);
  return r;
}

/**
 * A pagemap image's pages id and runs from its bytes, as readPagemapRuns gives them;
 * undefined for anything else (the generic decoder reads that).
 */
export function pagemapRunsOfBytes(b: Buffer): { pagesId: number; cols: PagemapColumns } | undefined {
  // The head's pages_id, a varint after its field key at byte 12: checked again by the decoder.
  if (b.length < 14 || b[12] !== 0x08) return undefined;
  let pagesId = 0;
  for (let at = 13, mul = 1; at < Math.min(b.length, 18); at++, mul *= 128) {
    pagesId += (b[at]! & 0x7f) * mul;
    if (b[at]! < 0x80) break;
  }
  const cols = decodePagemapBytes(b, pagesId);
  return cols && { pagesId, cols };
}

function decodePagemapBytes(b: Buffer, pagesId: number): PagemapColumns | undefined {
  if (b.length < 12 || readU32(b, 0) !== PAGEMAP_HEAD_MAGIC || readU32(b, 4) !== PAGEMAP_MAGIC) return undefined;
  let at = 8;
  let bad = false; // a varint ran past its entry or was too long
  // A varint at `at` (advances it): in a double up to 7 bytes (49 bits, every user-space address), then BigInt.
  const varint = (end: number): bigint => {
    const start = at;
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 7 && at < end; i++) {
      const c = b[at++]!;
      v += (c & 0x7f) * mul;
      if (c < 0x80) return BigInt(v);
      mul *= 128;
    }
    at = start;
    let w = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (at >= end) break;
      const c = b[at++]!;
      w |= BigInt(c & 0x7f) << shift;
      if (c < 0x80) return BigInt.asUintN(64, w);
    }
    bad = true;
    return 0n;
  };
  // Small varints (all but vaddr: up to 2^56) without BigInt.
  const small = (end: number): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (at >= end) break;
      const c = b[at++]!;
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 128;
    }
    bad = true;
    return 0;
  };
  // The head: exactly one field, pages_id.
  const headLen = readI32(b, at);
  at += 4;
  const headEnd = at + headLen;
  if (headLen < 0 || headEnd > b.length || b[at++] !== 0x08 || small(headEnd) !== pagesId || bad || at !== headEnd) return undefined;
  const cols = new ColumnsBuilder(Math.floor((b.length - at) / 8) + 1); // an entry is at least 8 bytes
  while (at < b.length) {
    if (at + 4 > b.length) return undefined;
    const len = readI32(b, at);
    at += 4;
    const end = at + len;
    if (len < 0 || end > b.length) return undefined;
    let vaddr = -1n;
    let compat = -1;
    let nr = -1;
    let flags = -1;
    let inParent = false;
    while (at < end) {
      const key = b[at++]!;
      if (key === 0x08) vaddr = varint(end);
      else if (key === 0x10) compat = small(end);
      else if (key === 0x18) inParent = small(end) === 1;
      else if (key === 0x20) flags = small(end);
      else if (key === 0x28) nr = small(end);
      else return undefined;
      if (bad) return undefined;
    }
    // Required fields missing, or values the generic decoder would refuse (uint32 over 2^32).
    if (vaddr < 0n || compat < 0 || compat > 0xffffffff || flags > 0xffffffff) return undefined;
    // As runOf: old images have only compat_nr_pages and in_parent.
    cols.push(vaddr, nr >= 0 ? nr : compat, flags >= 0 ? flags : inParent ? 1 : PE_PRESENT);
  }
  return cols.cols;
}

/**
 * A pagemap image as decodeImageFile gives it, but for its runs: only the pagemap_head entry, the
 * runs checked whole by the column decoder (and kept for the PageReader), where 100,000s of them
 * would otherwise be decoded as messages that nobody reads. Undefined where the column decoder does
 * not take the file (another layout, a damaged one): decodeImageFile then reads it and says what is wrong.
 */
export function pagemapHeadImage(file: string): Image | undefined {
  let r: ImageReader;
  try {
    r = ImageReader.open(file);
  } catch {
    return undefined;
  }
  try {
    if (r.magic !== 'PAGEMAP') return undefined;
    const head = r[Symbol.iterator]().next();
    if (head.done || typeof head.value.value.pages_id !== 'number') return undefined;
    if (decodePagemapRuns(file, head.value.value.pages_id) === undefined) return undefined;
    return { magic: r.magic, entries: [head.value], byteOrder: r.byteOrder };
  } catch {
    return undefined;
  } finally {
    r.close();
  }
}

/** A pagemap's runs summed up (PageReader.facts). */
export interface PagemapFacts {
  /** Pages of PE_PRESENT runs: the pages file holds that many. */
  presentPages: number;
  /** Every run's PE_* bits ORed. */
  flagsSeen: number;
}

const pagemapFacts = new WeakMap<Readonly<PagemapColumns>, PagemapFacts>();

/** What a pagemap's runs together say (computed once per columns). */
export function pagemapFactsOf(cols: Readonly<PagemapColumns>): PagemapFacts {
  let had = pagemapFacts.get(cols);
  if (!had) {
    let presentPages = 0;
    let flagsSeen = 0;
    for (let i = 0; i < cols.count; i++) {
      const f = cols.flags[i]!;
      flagsSeen |= f;
      if (f & PE_PRESENT) presentPages += cols.nrPages[i]!;
    }
    pagemapFacts.set(cols, (had = { presentPages, flagsSeen }));
  }
  return had;
}

/** Reads a pagemap and, on demand, the contents of each run from its pages file. */
export class PageReader implements Iterable<PageRun> {
  readonly pagesId: number;
  /** The generic reader, past the head: only for a pagemap the column decoder does not take. */
  private readonly reader: ImageReader | undefined;
  private readonly iter: Iterator<{ value: MessageValue }> | undefined;
  private pagesFd = -1;
  private pagesSize = 0;
  readonly pageSize: number;

  /** Open pagemapFile; pagesFileFor(pagesId) names the pages file (default: pages-ID.img beside it). */
  constructor(readonly pagemapFile: string, pagesFile?: string | ((pagesId: number) => string), pageSize = DEFAULT_PAGE_SIZE) {
    this.pageSize = pageSize;
    // The usual layout in one read of the file (a restore opens each pagemap several times: tree-50,
    // 150 readers); anything else, or a file that cannot be read, through the generic reader.
    faultPoint(`read ${pagemapFile}`);
    const quick = readPagemapRuns(pagemapFile);
    if (quick !== undefined) {
      this.pagesId = quick.pagesId;
      this.cols = quick.cols;
    } else {
      const reader = ImageReader.open(pagemapFile);
      if (reader.magic !== 'PAGEMAP') {
        reader.close();
        throw new ImageError(pagemapFile, 4, `a pagemap image, found ${reader.magic}`);
      }
      const iter = reader[Symbol.iterator]();
      const head = iter.next();
      if (head.done) {
        reader.close();
        throw new ImageError(pagemapFile, 8, 'a pagemap_head entry');
      }
      this.pagesId = head.value.value.pages_id as number;
      this.reader = reader;
      this.iter = iter;
    }
    const name =
      typeof pagesFile === 'function'
        ? pagesFile(this.pagesId)
        : pagesFile ?? pagemapFile.replace(/[^/]*$/, `pages-${this.pagesId}.img`);
    this.pagesPath = name;
  }
  readonly pagesPath: string;

  *[Symbol.iterator](): Iterator<PageRun> {
    const c = this.columns();
    for (let i = 0; i < c.count; i++) yield this.runAt(c, i);
  }

  /** Run `i` of the columns `c` (this reader's). */
  runAt(c: Readonly<PagemapColumns>, i: number): PageRun {
    const first = c.firstPage[i]!;
    return { vaddr: c.vaddr[i]!, nrPages: c.nrPages[i]!, flags: c.flags[i]!, offset: first < 0 ? -1 : first * this.pageSize };
  }

  /**
   * The runs as columns, in the pagemap's order: read, never change. The column decoder takes
   * the usual layout; anything else goes through the generic decoder, which says what is wrong
   * with a damaged file (thrown here).
   */
  columns(): Readonly<PagemapColumns> {
    // Decoded (or found unchanged) once per reader: its iteration, columns and facts read the file once.
    this.cols ??= decodePagemapRuns(this.pagemapFile, this.pagesId) ?? this.decodeGenerically();
    return this.cols;
  }

  private cols: PagemapColumns | undefined;

  private decodeGenerically(): PagemapColumns {
    const b = new ColumnsBuilder(64);
    for (let n = this.iter!.next(); !n.done; n = this.iter!.next()) {
      const run = runOf(n.value.value);
      b.push(run.vaddr, run.nrPages, run.flags);
    }
    return b.cols;
  }

  /** What every run together says, in one pass the reader keeps: a restore asks it from several places. */
  facts(): PagemapFacts {
    return pagemapFactsOf(this.columns());
  }

  private openPages(): void {
    if (this.pagesFd >= 0) return;
    faultPoint(`read ${this.pagesPath}`);
    this.pagesFd = openSync(this.pagesPath, 'r');
    this.pagesSize = fstatSync(this.pagesFd).size;
  }

  /** Read `length` bytes at `offset` of the pages file into buf (default: a new buffer). */
  read(offset: number, length: number, buf: Buffer = Buffer.allocUnsafe(length)): Buffer {
    this.openPages();
    if (offset + length > this.pagesSize) {
      throw new ImageError(this.pagesPath, this.pagesSize, `${length} bytes of pages at byte ${offset} (the pagemap says so), but the file ends`);
    }
    for (let got = 0; got < length; ) {
      const n = readSync(this.pagesFd, buf, got, length - got, offset + got);
      if (n === 0) throw new ImageError(this.pagesPath, offset + got, 'more page data');
      got += n;
    }
    return buf.subarray(0, length);
  }

  /**
   * The contents of a PE_PRESENT run in pieces of at most maxBytes (default 1 MiB), with their vaddr.
   * The data buffer is reused for the next piece: copy it to keep it.
   */
  *chunks(run: PageRun, maxBytes = 1 << 20): Generator<{ vaddr: bigint; data: Buffer }> {
    if (run.offset < 0) return;
    const step = Math.max(this.pageSize, maxBytes - (maxBytes % this.pageSize));
    const buf = Buffer.allocUnsafe(step);
    const total = run.nrPages * this.pageSize;
    for (let done = 0; done < total; done += step) {
      const n = Math.min(step, total - done);
      yield { vaddr: run.vaddr + BigInt(done), data: this.read(run.offset + done, n, buf) };
    }
  }

  close(): void {
    this.reader?.close();
    if (this.pagesFd >= 0) closeSync(this.pagesFd);
    this.pagesFd = -1;
  }
}
