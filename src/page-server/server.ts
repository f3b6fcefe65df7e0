/**
 * `cryo page-server`: receives the pages of a dump over TCP (CRIU's page-server protocol, see
 * protocol.ts) and writes them as pagemap-ID.img / pagemap-shmem-ID.img + pages-N.img in its
 * directory, as a local dump would have. One session, then it ends (as `criu page-server` without
 * --daemon). A directory with a `parent` link (--prev-images-dir) answers has_parent, so the dump
 * sends PE_PARENT entries, and records the parent's image hashes (cryo-parent.json) as a local dump does.
 */
import net from 'node:net';
import { closeSync, existsSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { createImageFile } from '../images/index.js';
import { PE_PARENT, PE_PRESENT } from '../images/flags.js';
import { PagemapImageWriter } from '../images/page-writer.js';
import { PARENT_LINK, parentDir, recordParentHashes } from '../images/page-chain.js';
import { writeI32 } from '../sys/native-endian.js';
import {
  PSI_SIZE, PS_IOV_ADD, PS_IOV_ADD_F, PS_IOV_CLOSE, PS_IOV_FORCE_CLOSE, PS_IOV_GET, PS_IOV_HOLE, PS_IOV_OPEN, PS_IOV_OPEN2, PS_IOV_PARENT,
  decodePsi, imageOfDstId, psCmd, psFlags, type Psi,
} from './protocol.js';
import { BlockingSocket, SocketIo } from './socket-io.js';
import { serveLazySession } from './lazy-server.js';

export interface PageServerOptions {
  dir: string;
  address?: string;
  port: number;
  /** The previous dump of the chain, relative to dir (CRIU's --prev-images-dir): made the dir's `parent` link. */
  prevImagesDir?: string;
  pageSize: number;
  /** Serve the pages of the dump in dir to a lazy restore (PS_IOV_GET) instead of receiving a dump. */
  lazyPages?: boolean;
  /** Called once the server listens (with the port, useful with port 0). */
  onListening?: (port: number) => void;
}

export interface SessionStats { images: number; pages: number; bytes: number }

export class PageServerError extends Error {}

const imageName = (img: { type: 'pid' | 'shmem'; id: number }) => (img.type === 'pid' ? `pagemap-${img.id}.img` : `pagemap-shmem-${img.id}.img`);

/** Listens, serves one dump's session, and resolves when it was closed cleanly (PS_IOV_CLOSE). */
export async function runPageServer(opts: PageServerOptions): Promise<SessionStats> {
  if (opts.lazyPages && !existsSync(opts.dir)) throw new PageServerError(`${opts.dir}: no such directory (--lazy-pages serves the dump there)`);
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  if (opts.prevImagesDir !== undefined) {
    const target = path.resolve(opts.dir, opts.prevImagesDir);
    if (!existsSync(target)) throw new PageServerError(`--prev-images-dir ${opts.prevImagesDir}: ${target} does not exist (the path is relative to the images directory)`);
    rmSync(path.join(opts.dir, PARENT_LINK), { force: true });
    symlinkSync(opts.prevImagesDir, path.join(opts.dir, PARENT_LINK));
  }
  // Paused: a receiving session takes the descriptor over before Node reads from it.
  const server = net.createServer({ pauseOnConnect: true });
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    server.once('error', (e) => reject(new PageServerError(`cannot listen on ${opts.address ?? '0.0.0.0'}:${opts.port}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    server.once('connection', resolve);
    server.listen(opts.port, opts.address ?? '0.0.0.0', () => opts.onListening?.((server.address() as net.AddressInfo).port));
  });
  server.close();
  sock.setNoDelay(true);
  try {
    if (opts.lazyPages) {
      const s = await serveLazySession(new SocketIo(sock), opts.dir, opts.pageSize).catch((e: Error) => { throw new PageServerError(e.message); });
      return { images: 0, pages: s.pages, bytes: s.pages * opts.pageSize };
    }
    const blocking = BlockingSocket.from(sock);
    try {
      return new Session(opts.dir, opts.pageSize, blocking).serve();
    } finally {
      blocking.close();
    }
  } finally {
    sock.destroy();
  }
}

/** One image being written: its pagemap, its pages file. */
interface Open { dstId: bigint; pagemap: PagemapImageWriter; pagesFd: number }

class Session {
  private cur: Open | undefined;
  private nextPagesId: number;
  private readonly stats: SessionStats = { images: 0, pages: 0, bytes: 0 };

  constructor(private readonly dir: string, private readonly pageSize: number, private readonly io: BlockingSocket) {
    // pages-N.img names already in the directory are not reused.
    const ids = readdirSync(dir).map((n) => /^pages-(\d+)\.img$/.exec(n)).filter((m) => m !== null).map((m) => Number(m![1]));
    this.nextPagesId = Math.max(0, ...ids) + 1;
  }

  serve(): SessionStats {
    try {
      for (let first = true; ; first = false) {
        const b = this.io.readExact(PSI_SIZE, 'a command');
        if (b === undefined) throw new PageServerError('the dump closed the connection before it sent all its pages (no PS_IOV_CLOSE): the images in this directory are incomplete');
        // At the first command: a dump of a chain asks for the parent before it freezes the task
        // (cryo migrate hashes the parent while this server starts, into its cryo-hashes.json).
        if (first) this.recordParent();
        const pi = decodePsi(b);
        const cmd = psCmd(pi.cmd);
        if (cmd === PS_IOV_OPEN || cmd === PS_IOV_OPEN2) {
          this.open(pi);
          if (cmd === PS_IOV_OPEN2) this.io.write(Buffer.from([this.hasParent(pi) ? 1 : 0]));
        } else if (cmd === PS_IOV_PARENT) {
          const r = Buffer.alloc(4);
          writeI32(r, this.hasParent(pi) ? 1 : 0, 0);
          this.io.write(r);
        } else if (cmd === PS_IOV_ADD_F || cmd === PS_IOV_ADD || cmd === PS_IOV_HOLE) {
          const flags = cmd === PS_IOV_ADD_F ? psFlags(pi.cmd) : cmd === PS_IOV_ADD ? PE_PRESENT : PE_PARENT;
          this.add(pi, flags);
        } else if (cmd === PS_IOV_CLOSE || cmd === PS_IOV_FORCE_CLOSE) {
          this.closeCurrent();
          this.io.write(Buffer.alloc(4)); // status 0: all received
          // The dump closes first (no TIME_WAIT here), as CRIU's page server waits for it.
          if (!this.io.atEnd()) throw new PageServerError('the dump sent data after PS_IOV_CLOSE');
          return this.stats;
        } else if (cmd === PS_IOV_GET) {
          throw new PageServerError('PS_IOV_GET: this page server receives a dump; start one with --lazy-pages to serve lazy pages');
        } else {
          throw new PageServerError(`unknown page-server command ${pi.cmd} (is the peer a CRIU page-server client?)`);
        }
      }
    } finally {
      this.closeCurrent();
    }
  }

  private recordParent(): void {
    const p = parentDir(this.dir);
    if (p !== undefined) recordParentHashes(this.dir, p, readlinkSync(path.join(this.dir, PARENT_LINK)));
  }

  private imageOf(pi: Psi) {
    const img = imageOfDstId(pi.dstId);
    if (!img) throw new PageServerError(`unknown pagemap type ${pi.dstId & 0xffn} in dst_id ${pi.dstId}`);
    return img;
  }

  private hasParent(pi: Psi): boolean {
    const p = parentDir(this.dir);
    return p !== undefined && existsSync(path.join(p, imageName(this.imageOf(pi))));
  }

  private open(pi: Psi): void {
    this.closeCurrent();
    const img = this.imageOf(pi);
    const id = this.nextPagesId++;
    const pagemap = new PagemapImageWriter(path.join(this.dir, imageName(img)), id);
    this.cur = { dstId: pi.dstId, pagemap, pagesFd: createImageFile(path.join(this.dir, `pages-${id}.img`)) };
    this.stats.images++;
  }

  private add(pi: Psi, flags: number): void {
    // CRIU: an ADD without OPEN for that image opens it ("deprecated IO w/o open").
    if (this.cur?.dstId !== pi.dstId) this.open(pi);
    const cur = this.cur!;
    const nr = Number(pi.nrPages);
    cur.pagemap.add(pi.vaddr, nr, flags);
    if ((flags & PE_PRESENT) === 0) return;
    const bytes = nr * this.pageSize;
    if (!this.io.spliceOut(cur.pagesFd, bytes)) throw new PageServerError(`the connection closed in the middle of the pages at 0x${pi.vaddr.toString(16)}`);
    this.stats.bytes += bytes;
    this.stats.pages += nr;
  }

  private closeCurrent(): void {
    const c = this.cur;
    if (!c) return;
    this.cur = undefined;
    try {
      c.pagemap.close();
    } finally {
      closeSync(c.pagesFd);
    }
  }
}
