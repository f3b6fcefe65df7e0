// Writing memory pages: pagemap-*.img entry by entry and pages-*.img run by run (the layout is
// described in ./pages.ts, which reads them back).

import { closeSync, writeSync } from 'node:fs';
import { PE_PRESENT } from './flags.js';
import { createImageFile } from './image.js';
import { writeU32 } from '../sys/native-endian.js';
import { DEFAULT_PAGE_SIZE, PAGEMAP_HEAD_MAGIC, PAGEMAP_MAGIC } from './pages.js';

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
 * Writes pagemap-*.img entry by entry: the bytes ImageWriter writes for a pagemap_head and
 * pagemap_entry messages, without a message object and the generic encoder per entry (a sparse
 * task has 100k runs). Entries fill both nr_pages (field 5, what CRIU >= 3.x reads) and
 * compat_nr_pages (field 2, what crit 3.17 and older readers read; 0 when it does not fit).
 */
export class PagemapImageWriter {
  private readonly fd: number;
  private readonly buf = Buffer.allocUnsafe(1 << 16);
  private len = 0;
  private flushed = false;
  /** The file's bytes once closed, where they fit one write (the manifest hashes them without a read). */
  whole: Buffer | undefined;

  constructor(file: string, pagesId: number) {
    this.fd = createImageFile(file);
    writeU32(this.buf, PAGEMAP_HEAD_MAGIC, 0);
    writeU32(this.buf, PAGEMAP_MAGIC, 4);
    this.len = 12;
    this.buf[this.len++] = 0x08;
    this.varint(BigInt(pagesId));
    writeU32(this.buf, this.len - 12, 8);
  }

  add(vaddr: bigint, nrPages: number, flags: number): void {
    if (this.len + 48 > this.buf.length) this.flush();
    const start = this.len;
    this.len += 4;
    this.buf[this.len++] = 0x08;
    const a = Number(vaddr);
    if (a >= 0 && a <= Number.MAX_SAFE_INTEGER) this.varintNumber(a);
    else this.varint(vaddr);
    this.buf[this.len++] = 0x10;
    this.varintNumber(nrPages > 0xffffffff ? 0 : nrPages);
    this.buf[this.len++] = 0x20;
    this.varintNumber(flags);
    this.buf[this.len++] = 0x28;
    this.varintNumber(nrPages);
    writeU32(this.buf, this.len - start - 4, start);
  }

  /** A non-negative integer below 2^53, without a bigint (100,000 entries: 300,000 bigints fewer). */
  private varintNumber(x: number): void {
    while (x >= 0x80) {
      this.buf[this.len++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.buf[this.len++] = x;
  }

  private varint(v: bigint): void {
    let n = BigInt.asUintN(64, v);
    if (n < 0x20000000000000n) return this.varintNumber(Number(n));
    while (n >= 0x80n) {
      this.buf[this.len++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    this.buf[this.len++] = Number(n);
  }

  private flush(): void {
    writeAll(this.fd, this.buf.subarray(0, this.len));
    this.len = 0;
    this.flushed = true;
  }

  close(): void {
    try {
      const first = !this.flushed;
      const len = this.len;
      this.flush();
      if (first) this.whole = this.buf.subarray(0, len);
    } finally {
      closeSync(this.fd);
    }
  }
}

/** Whether `next` is `bytes` after `at`: number arithmetic below 2^53 (no bigints made for each of 100,000 runs). */
function follows(at: bigint, bytes: number, next: bigint): boolean {
  const a = Number(at);
  const n = Number(next);
  return n <= Number.MAX_SAFE_INTEGER ? a + bytes === n : at + BigInt(bytes) === next;
}

/** pagemap-PID.img written entry by entry: a run that continues the previous one with the same flags extends its entry. */
export class PagemapRecorder {
  private readonly img: PagemapImageWriter;
  /** The entry not yet written (if `has`), in fields rather than an object per entry. */
  private has = false;
  private vaddr = 0n;
  private nrPages = 0;
  private flags = 0;
  constructor(file: string, pagesId: number, private readonly pageSize: number) {
    this.img = new PagemapImageWriter(file, pagesId);
  }

  add(vaddr: bigint, nrPages: number, flags: number): void {
    if (this.has && this.flags === flags && follows(this.vaddr, this.nrPages * this.pageSize, vaddr)) {
      this.nrPages += nrPages;
      return;
    }
    this.flush();
    this.has = true;
    this.vaddr = vaddr;
    this.nrPages = nrPages;
    this.flags = flags;
  }

  private flush(): void {
    if (!this.has) return;
    this.img.add(this.vaddr, this.nrPages, this.flags);
    this.has = false;
  }

  close(): void {
    try {
      this.flush();
    } finally {
      this.img.close();
    }
  }

  /** The image's bytes once closed, where it was written whole in one write. */
  get whole(): Buffer | undefined {
    return this.img.whole;
  }
}

/**
 * Appends runs of pages to a pages file and records each in the pagemap.
 * Entries fill both nr_pages (field 5, what CRIU >= 3.x reads) and
 * compat_nr_pages (field 2, what crit 3.17 and older readers read).
 */
export class PageWriter {
  private readonly pagemap: PagemapRecorder;
  private readonly pagesFd: number;
  readonly pageSize: number;
  private offset = 0;

  constructor(opts: PageWriterOptions) {
    this.pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
    this.pagemap = new PagemapRecorder(opts.pagemapFile, opts.pagesId, this.pageSize);
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
    this.pagemap.add(vaddr, nrPages, flags);
  }

  close(): void {
    try {
      this.pagemap.close();
    } finally {
      closeSync(this.pagesFd);
    }
  }
}
