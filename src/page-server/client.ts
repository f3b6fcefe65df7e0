/**
 * The dump's side of a page-server session (CRIU's protocol, protocol.ts), on a blocking socket
 * (BlockingSocket): a dump streams each pagemap's entries and the task's pages
 * straight from its page pipes (splice) into the socket while the task is frozen, with no file in
 * between. Images written to files (shared memory's) are sent from them. Afterwards the dump
 * directory's pages are gone and each sent pagemap stays as cryo-sent-pagemap-*.img, since the next
 * dump of a chain reads which pages its parent had.
 */
import { renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PE_PARENT, PE_PRESENT } from '../images/flags.js';
import { PageReader } from '../images/pages.js';
import { readI32 } from '../sys/native-endian.js';
import { PS_IOV_CLOSE, PS_IOV_OPEN2, PS_IOV_PARENT, PS_TYPE_PID, PS_TYPE_SHMEM, dstIdOf, encodePsi, psAddF } from './protocol.js';
import { BlockingSocket, connectTo } from './socket-io.js';

export const SENT_PREFIX = 'cryo-sent-';

export class PageServerClient {
  /** Pagemap images (base names) opened on the server: streamed or sent. */
  readonly sent = new Set<string>();
  /** Milliseconds spent moving page bytes into the socket. */
  writeMs = 0;

  private constructor(private readonly sock: BlockingSocket, readonly where: string) {}

  static async connect(address: string, port: number): Promise<PageServerClient> {
    return new PageServerClient(BlockingSocket.from(await connectTo(address, port)), `${address}:${port}`);
  }

  private write(b: Buffer): void {
    this.sock.write(b);
  }

  private readExact(n: number, what: string): Buffer {
    const b = this.sock.readExact(n, what);
    if (!b) throw new Error(`the page server at ${this.where} closed the connection before ${what}`);
    return b;
  }

  /** Whether the server holds a parent dump with the pagemap of task `pid` (PS_IOV_PARENT). */
  hasParent(pid: number): boolean {
    this.write(encodePsi({ cmd: PS_IOV_PARENT, nrPages: 0n, vaddr: 0n, dstId: dstIdOf(PS_TYPE_PID, pid) }));
    return readI32(this.readExact(4, 'the answer to PS_IOV_PARENT'), 0) !== 0;
  }

  /** Starts the pagemap image `name` (pagemap-ID.img, pagemap-shmem-ID.img) on the server; returns whether it has that image's parent. */
  open(name: string): { dstId: bigint; hasParent: boolean } {
    const m = /^pagemap-(shmem-)?(\d+)\.img$/.exec(name);
    if (!m) throw new Error(`${name}: not a pagemap image name`);
    const dstId = dstIdOf(m[1] ? PS_TYPE_SHMEM : PS_TYPE_PID, Number(m[2]));
    this.write(encodePsi({ cmd: PS_IOV_OPEN2, nrPages: 0n, vaddr: 0n, dstId }));
    this.sent.add(name);
    return { dstId, hasParent: this.readExact(1, 'the answer to PS_IOV_OPEN2')[0] !== 0 };
  }

  /** One pagemap entry of the open image; a PE_PRESENT one is followed by its bytes (page(), splice()). */
  entry(dstId: bigint, vaddr: bigint, nrPages: number, flags: number): void {
    this.write(encodePsi({ cmd: psAddF(flags), nrPages: BigInt(nrPages), vaddr, dstId }));
  }

  /** Page bytes from a buffer. */
  pages(b: Buffer): void {
    const t0 = performance.now();
    this.write(b);
    this.writeMs += performance.now() - t0;
  }

  /** `bytes` of page bytes from the pipe whose read end is `rfd`, without a copy through cryo. */
  splice(rfd: number, bytes: number): void {
    const t0 = performance.now();
    this.sock.spliceIn(rfd, bytes);
    this.writeMs += performance.now() - t0;
  }

  /** Sends one pagemap image and its pages from their files; returns the pages sent. */
  sendImage(pagemapFile: string, pageSize: number): number {
    const base = path.basename(pagemapFile);
    const reader = new PageReader(pagemapFile, undefined, pageSize);
    let sent = 0;
    try {
      const runs = [...reader];
      const { dstId, hasParent } = this.open(base);
      if (!hasParent && runs.some((r) => (r.flags & PE_PARENT) !== 0)) throw new Error(noParent(this.where, base));
      const chunk = 1 << 20;
      for (const r of runs) {
        this.entry(dstId, r.vaddr, r.nrPages, r.flags);
        if (r.offset < 0 || (r.flags & PE_PRESENT) === 0) continue;
        const len = r.nrPages * pageSize;
        for (let at = 0; at < len; at += chunk) this.pages(reader.read(r.offset + at, Math.min(chunk, len - at)));
        sent += r.nrPages;
      }
    } finally {
      reader.close();
    }
    return sent;
  }

  /** PS_IOV_CLOSE: returns when the server confirmed it has everything, then closes the connection. */
  close(): void {
    this.write(encodePsi({ cmd: PS_IOV_CLOSE, nrPages: 0n, vaddr: 0n, dstId: 0n }));
    const r = readI32(this.readExact(4, 'confirming the pages (PS_IOV_CLOSE)'), 0);
    if (r !== 0) throw new Error(`the page server at ${this.where} answered status ${r} to PS_IOV_CLOSE`);
    this.abort();
  }

  /** Drops the connection (a failed dump: the server sees no PS_IOV_CLOSE and keeps nothing as complete). */
  abort(): void {
    this.sock.close();
  }
}

/** The error for PE_PARENT entries sent to a server without the parent dump. */
export function noParent(where: string, pagemap: string): string {
  return `the page server at ${where} has no parent dump for ${pagemap}, which has pages in its parent: start it with --prev-images-dir`;
}

/** After the server confirmed them: a dump directory's pages go, its pagemaps stay as cryo-sent-*. */
export function dropSentImages(dir: string, pagemaps: readonly string[], pagesFiles: readonly string[]): void {
  for (const p of pagemaps) renameSync(path.join(dir, p), path.join(dir, SENT_PREFIX + p));
  for (const p of pagesFiles) rmSync(path.join(dir, p), { force: true });
}
