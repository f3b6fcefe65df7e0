/**
 * Where a process's pages go as they leave the task: its pagemap entries (in address order) and the
 * bytes of the present ones (in the same order, from page pipes or buffers). PagesFile writes
 * pagemap-PID.img and pages-N.img; ToPageServer streams both to a page server (the pagemap is
 * still written here, to be kept as cryo-sent-pagemap-PID.img).
 */
import { closeSync, writeSync } from 'node:fs';
import path from 'node:path';
import { PE_PARENT, PE_PRESENT, createImageFile } from '../images/index.js';
import { PagemapRecorder } from '../images/page-writer.js';
import { spliceAll } from '../sys/index.js';
import { DumpError } from '../shared/dump-error.js';
import { noParent, type PageServerClient } from '../page-server/client.js';
import { PagesHashing } from './pages-hash.js';

export interface PageSink {
  entry(vaddr: bigint, nrPages: number, flags: number): void;
  /** The next `bytes` of page bytes, from the pipe whose read end is `rfd`. */
  splice(rfd: number, bytes: number): void;
  /** The next page bytes, from a buffer. */
  write(b: Buffer): void;
  /** Milliseconds spent putting page bytes where they go. */
  readonly writeMs: number;
  /** All entries and bytes are in (throws when bytes are missing). */
  finish(): void;
  /** Closes its files, whatever happened. */
  close(): void;
}

/**
 * The most bytes one splice or write puts into the pages image (CRYO_PAGES_WRITE_BYTES overrides).
 * The kernel gives a write a page cache folio as large as its length and file offset allow; on
 * this project's VM (6.18, ext4, memory handed back to the host when free) 1 MiB folios cost 2-5x
 * the CPU of 64 KiB ones (1 GiB written: 1.5-2.3 s system time in 1 MiB writes, 0.2-0.4 s in
 * 64 KiB ones): CRIU's pages image, which small first pieces leave misaligned, got small folios.
 */
const writeBytes = () => Number(process.env.CRYO_PAGES_WRITE_BYTES ?? 0) || 64 << 10;

export class PagesFile implements PageSink {
  writeMs = 0;
  private readonly pagemap: PagemapRecorder;
  private readonly fd: number;
  /** The manifest's digests of the pages image, hashed as its bytes land (see pages-hash.ts). */
  readonly hashing: PagesHashing;
  /** writeBytes(), read once: the service gives each command its own environment. */
  private readonly piece = writeBytes();

  /** `frozen`: see PagesHashing. */
  constructor(pagemapFile: string, pagesFile: string, pagesId: number, pageSize: number, frozen = true) {
    this.hashing = new PagesHashing(pagesFile, frozen);
    this.pagemap = new PagemapRecorder(pagemapFile, pagesId, pageSize);
    try {
      this.fd = createImageFile(pagesFile);
    } catch (e) {
      this.pagemap.close();
      throw e;
    }
  }

  entry(vaddr: bigint, nrPages: number, flags: number): void {
    this.pagemap.add(vaddr, nrPages, flags);
  }

  splice(rfd: number, bytes: number): void {
    const t0 = performance.now();
    spliceAll(rfd, this.fd, bytes, 'into the pages image', this.piece);
    this.writeMs += performance.now() - t0;
    this.hashing.landed(bytes);
  }

  write(b: Buffer): void {
    const t0 = performance.now();
    for (let off = 0; off < b.length;) off += writeSync(this.fd, b, off, Math.min(this.piece, b.length - off));
    this.writeMs += performance.now() - t0;
    this.hashing.landed(b.length);
  }

  finish(): void {
    this.hashing.finish();
  }

  close(): void {
    try {
      this.pagemap.close();
    } finally {
      closeSync(this.fd);
    }
  }

  /** The pagemap image's bytes once closed (PagemapRecorder.whole). */
  get pagemapBytes(): Buffer | undefined {
    return this.pagemap.whole;
  }
}

/**
 * Streams to a page server. An entry goes out when its bytes are about to (a PE_PARENT or lazy
 * one without bytes as soon as the entries before it are complete), so entries and bytes keep the
 * order the protocol wants whatever the batching of the bytes.
 */
export class ToPageServer implements PageSink {
  private readonly pagemap: PagemapRecorder;
  private readonly queue: { vaddr: bigint; nrPages: number; flags: number; sent: boolean }[] = [];
  /** Bytes of the queue's first entry still to come. */
  private owed = 0;
  private readonly dstId: bigint;
  private readonly hasParent: boolean;
  private readonly name: string;

  /** Opens pagemapFile's image (its base name) on the server; the file is written here too. */
  constructor(private readonly client: PageServerClient, pagemapFile: string, pagesId: number, private readonly pageSize: number) {
    this.name = path.basename(pagemapFile);
    ({ dstId: this.dstId, hasParent: this.hasParent } = client.open(this.name));
    this.pagemap = new PagemapRecorder(pagemapFile, pagesId, pageSize);
  }

  get writeMs(): number {
    return this.client.writeMs;
  }

  entry(vaddr: bigint, nrPages: number, flags: number): void {
    if ((flags & PE_PARENT) !== 0 && !this.hasParent) throw new DumpError('FAILED', noParent(this.client.where, this.name));
    this.pagemap.add(vaddr, nrPages, flags);
    this.queue.push({ vaddr, nrPages, flags, sent: false });
    this.pump();
  }

  /** Sends the entries at the head of the queue that carry no bytes, and the header of the first that does. */
  private pump(): void {
    while (this.queue.length > 0) {
      const e = this.queue[0]!;
      if (!e.sent) {
        this.client.entry(this.dstId, e.vaddr, e.nrPages, e.flags);
        e.sent = true;
        this.owed = (e.flags & PE_PRESENT) !== 0 ? e.nrPages * this.pageSize : 0;
      }
      if (this.owed > 0) return;
      this.queue.shift();
    }
  }

  /** Moves `bytes` (of pipe rfd or buffer b), entry by entry. */
  private bytes(n: number, move: (at: number, len: number) => void): void {
    for (let at = 0; at < n;) {
      this.pump();
      if (this.owed === 0) throw new DumpError('FAILED', 'page bytes came with no pagemap entry to carry them');
      const len = Math.min(this.owed, n - at);
      move(at, len);
      this.owed -= len;
      at += len;
    }
    this.pump();
  }

  splice(rfd: number, bytes: number): void {
    this.bytes(bytes, (_, len) => this.client.splice(rfd, len));
  }

  write(b: Buffer): void {
    this.bytes(b.length, (at, len) => this.client.pages(b.subarray(at, at + len)));
  }

  finish(): void {
    this.pump();
    if (this.queue.length > 0) throw new DumpError('FAILED', `the bytes of ${this.queue.length} pagemap entries never came`);
  }

  close(): void {
    this.pagemap.close();
  }
}
