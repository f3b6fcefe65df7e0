/**
 * The dump's side of a page-server session: the pagemaps and pages a dump wrote into its directory
 * are sent (CRIU's protocol, protocol.ts) and then removed there; each pagemap is kept under
 * cryo-sent-pagemap-*.img, since the next dump of a chain reads which pages its parent had.
 */
import { renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PE_PARENT } from '../images/flags.js';
import { PageReader } from '../images/pages.js';
import { readI32 } from '../sys/native-endian.js';
import { PS_IOV_CLOSE, PS_IOV_OPEN2, PS_IOV_PARENT, PS_TYPE_PID, PS_TYPE_SHMEM, dstIdOf, encodePsi, psAddF } from './protocol.js';
import { SocketIo, connectTo } from './socket-io.js';

export const SENT_PREFIX = 'cryo-sent-';

export class PageServerClient {
  private constructor(private readonly io: SocketIo, private readonly where: string) {}

  static async connect(address: string, port: number): Promise<PageServerClient> {
    return new PageServerClient(new SocketIo(await connectTo(address, port)), `${address}:${port}`);
  }

  /** Whether the server holds a parent dump with the pagemap of task `pid` (PS_IOV_PARENT). */
  async hasParent(pid: number): Promise<boolean> {
    await this.io.write(encodePsi({ cmd: PS_IOV_PARENT, nrPages: 0n, vaddr: 0n, dstId: dstIdOf(PS_TYPE_PID, pid) }));
    const r = await this.io.readExact(4, 'the answer to PS_IOV_PARENT');
    if (!r) throw new Error(`the page server at ${this.where} closed the connection`);
    return readI32(r, 0) !== 0;
  }

  /** Sends one pagemap image and its pages; returns the pages sent. */
  async sendImage(pagemapFile: string, pageSize: number): Promise<number> {
    const base = path.basename(pagemapFile);
    const m = /^pagemap-(shmem-)?(\d+)\.img$/.exec(base);
    if (!m) throw new Error(`${pagemapFile}: not a pagemap image name`);
    const dstId = dstIdOf(m[1] ? PS_TYPE_SHMEM : PS_TYPE_PID, Number(m[2]));
    const reader = new PageReader(pagemapFile, undefined, pageSize);
    let sent = 0;
    try {
      await this.io.write(encodePsi({ cmd: PS_IOV_OPEN2, nrPages: 0n, vaddr: 0n, dstId }));
      const hasParent = await this.io.readExact(1, 'the answer to PS_IOV_OPEN2');
      if (!hasParent) throw new Error(`the page server at ${this.where} closed the connection`);
      const runs = [...reader];
      if (hasParent[0] === 0 && runs.some((r) => (r.flags & PE_PARENT) !== 0)) {
        throw new Error(`the page server at ${this.where} has no parent dump for ${base}, which has pages in its parent: start it with --prev-images-dir`);
      }
      const chunk = 1 << 20;
      for (const r of runs) {
        await this.io.write(encodePsi({ cmd: psAddF(r.flags), nrPages: BigInt(r.nrPages), vaddr: r.vaddr, dstId }));
        if (r.offset < 0) continue;
        const len = r.nrPages * pageSize;
        for (let at = 0; at < len; at += chunk) await this.io.write(reader.read(r.offset + at, Math.min(chunk, len - at)));
        sent += r.nrPages;
      }
    } finally {
      reader.close();
    }
    return sent;
  }

  /** PS_IOV_CLOSE: resolves when the server confirmed it has everything, then closes the connection. */
  async close(): Promise<void> {
    await this.io.write(encodePsi({ cmd: PS_IOV_CLOSE, nrPages: 0n, vaddr: 0n, dstId: 0n }));
    const r = await this.io.readExact(4, 'the answer to PS_IOV_CLOSE');
    if (!r) throw new Error(`the page server at ${this.where} closed the connection before confirming the pages`);
    if (readI32(r, 0) !== 0) throw new Error(`the page server at ${this.where} answered status ${readI32(r, 0)} to PS_IOV_CLOSE`);
    this.io.sock.end();
  }

  /** Drops the connection (a failed dump: the server sees no PS_IOV_CLOSE and keeps nothing as complete). */
  abort(): void {
    this.io.sock.destroy();
  }
}

/** After the server confirmed them: a dump directory's pages go, its pagemaps stay as cryo-sent-*. */
export function dropSentImages(dir: string, pagemaps: readonly string[], pagesFiles: readonly string[]): void {
  for (const p of pagemaps) renameSync(path.join(dir, p), path.join(dir, SENT_PREFIX + p));
  for (const p of pagesFiles) rmSync(path.join(dir, p), { force: true });
}
