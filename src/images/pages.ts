// Memory pages: pagemap-*.img (a pagemap_head, then one pagemap_entry per run
// of pages) and the raw pages-*.img that holds the contents of every run
// marked PE_PRESENT, back to back. Both are streamed: memory use is bounded
// by the largest run a caller hands over, never by the file.

import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { ImageError } from './errors.js';
import { PE_PRESENT } from './flags.js';
import { ImageReader, ImageWriter, createImageFile } from './image.js';
import type { MessageValue } from './value.js';

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

export interface PageWriterOptions {
  /** pagemap-PID.img (or pagemap-shmem-ID.img). */
  pagemapFile: string;
  /** pages-ID.img. */
  pagesFile: string;
  /** The ID in the pages file name, recorded in pagemap_head. */
  pagesId: number;
  pageSize?: number;
}

function writeAll(fd: number, b: Uint8Array): void {
  for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
}

/**
 * Appends runs of pages to a pages file and records each in the pagemap.
 * Entries fill both nr_pages (field 5, what CRIU >= 3.x reads) and
 * compat_nr_pages (field 2, what crit 3.17 and older readers read).
 */
export class PageWriter {
  private readonly pagemap: ImageWriter;
  private readonly pagesFd: number;
  readonly pageSize: number;
  private offset = 0;
  private pending: { vaddr: bigint; nrPages: number; flags: number } | undefined;

  constructor(opts: PageWriterOptions) {
    this.pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
    this.pagemap = ImageWriter.create(opts.pagemapFile, 'PAGEMAP');
    this.pagemap.write({ pages_id: opts.pagesId });
    this.pagesFd = createImageFile(opts.pagesFile);
  }

  /**
   * Add pages at vaddr with their contents (a multiple of the page size).
   * A run that continues the previous one with the same flags extends its
   * pagemap entry, so callers may hand over a big region in pieces.
   */
  addPages(vaddr: bigint, data: Uint8Array, flags = PE_PRESENT): void {
    if (data.length % this.pageSize !== 0) throw new RangeError(`page data of ${data.length} bytes is not a multiple of ${this.pageSize}`);
    if ((flags & PE_PRESENT) === 0) throw new RangeError('pages with contents need PE_PRESENT');
    this.record(vaddr, data.length / this.pageSize, flags);
    writeAll(this.pagesFd, data);
    this.offset += data.length;
  }

  /** Add a run without contents in this pages file (e.g. PE_PARENT: in the parent snapshot). */
  addRun(vaddr: bigint, nrPages: number, flags: number): void {
    if (flags & PE_PRESENT) throw new RangeError('a run without contents cannot be PE_PRESENT');
    this.record(vaddr, nrPages, flags);
  }

  /** Bytes written to the pages file so far. */
  get pagesBytes(): number {
    return this.offset;
  }

  private record(vaddr: bigint, nrPages: number, flags: number): void {
    const p = this.pending;
    if (p && p.flags === flags && p.vaddr + BigInt(p.nrPages * this.pageSize) === vaddr) {
      p.nrPages += nrPages;
      return;
    }
    this.flushEntry();
    this.pending = { vaddr, nrPages, flags };
  }

  private flushEntry(): void {
    const p = this.pending;
    if (!p) return;
    const entry: MessageValue = {
      vaddr: p.vaddr,
      compat_nr_pages: p.nrPages > 0xffffffff ? 0 : p.nrPages,
      flags: p.flags,
      nr_pages: BigInt(p.nrPages),
    };
    this.pagemap.write(entry);
    this.pending = undefined;
  }

  close(): void {
    try {
      this.flushEntry();
      this.pagemap.close();
    } finally {
      closeSync(this.pagesFd);
    }
  }
}

function runOf(v: MessageValue): Omit<PageRun, 'offset'> {
  // Old images have only compat_nr_pages and in_parent; read them as CRIU does.
  const nr = v.nr_pages !== undefined ? Number(v.nr_pages) : Number(v.compat_nr_pages);
  let flags = typeof v.flags === 'number' ? v.flags : PE_PRESENT;
  if (v.flags === undefined && v.in_parent === true) flags = 1;
  return { vaddr: v.vaddr as bigint, nrPages: nr, flags };
}

/** Reads a pagemap and, on demand, the contents of each run from its pages file. */
export class PageReader implements Iterable<PageRun> {
  readonly pagesId: number;
  private readonly reader: ImageReader;
  private readonly iter: Iterator<{ value: MessageValue }>;
  private pagesFd = -1;
  private pagesSize = 0;
  readonly pageSize: number;

  /** Open pagemapFile; pagesFileFor(pagesId) names the pages file (default: pages-ID.img beside it). */
  constructor(readonly pagemapFile: string, pagesFile?: string | ((pagesId: number) => string), pageSize = DEFAULT_PAGE_SIZE) {
    this.pageSize = pageSize;
    this.reader = ImageReader.open(pagemapFile);
    if (this.reader.magic !== 'PAGEMAP') {
      this.reader.close();
      throw new ImageError(pagemapFile, 4, `a pagemap image, found ${this.reader.magic}`);
    }
    this.iter = this.reader[Symbol.iterator]();
    const head = this.iter.next();
    if (head.done) {
      this.reader.close();
      throw new ImageError(pagemapFile, 8, 'a pagemap_head entry');
    }
    this.pagesId = head.value.value.pages_id as number;
    const name =
      typeof pagesFile === 'function'
        ? pagesFile(this.pagesId)
        : pagesFile ?? pagemapFile.replace(/[^/]*$/, `pages-${this.pagesId}.img`);
    this.pagesPath = name;
  }
  readonly pagesPath: string;

  *[Symbol.iterator](): Iterator<PageRun> {
    let offset = 0;
    for (let n = this.iter.next(); !n.done; n = this.iter.next()) {
      const run = runOf(n.value.value);
      if (run.flags & PE_PRESENT) {
        yield { ...run, offset };
        offset += run.nrPages * this.pageSize;
      } else yield { ...run, offset: -1 };
    }
  }

  private openPages(): void {
    if (this.pagesFd >= 0) return;
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
    this.reader.close();
    if (this.pagesFd >= 0) closeSync(this.pagesFd);
    this.pagesFd = -1;
  }
}
