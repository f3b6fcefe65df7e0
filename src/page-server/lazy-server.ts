/**
 * `cryo page-server --lazy-pages -D DIR`: serves the pages of the dump in DIR to a lazy restore on
 * another machine (`cryo lazy-pages --page-server`, or CRIU's), as `criu page-server --lazy-pages`
 * does. Each PS_IOV_GET names a task (dst_id: its PID, CRIU's page-read image id), an address and a
 * number of pages; the answer is a PS_IOV_ADD_F(PE_PRESENT) header with the pages it holds from
 * there on (at most those asked, at least one) and their bytes. Pages the dump does not hold end
 * the session with an error, as CRIU's server does. The session ends at PS_IOV_CLOSE (or the peer
 * closing); then the server exits.
 */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { PE_PRESENT } from '../images/flags.js';
import { PageReader } from '../images/pages.js';
import { PSI_SIZE, PS_IOV_CLOSE, PS_IOV_FORCE_CLOSE, PS_IOV_GET, decodePsi, encodePsi, psAddF, psCmd } from './protocol.js';
import { SocketIo } from './socket-io.js';

export interface LazyServeStats { requests: number; pages: number }

interface Held { vaddr: bigint; nrPages: number; offset: number }

/** One task's pages in the dump's images (the newest pagemap's present runs), opened on first use. */
class TaskPages {
  private readonly runs: Held[] = [];
  private readonly fd: number;

  constructor(readonly pid: number, dir: string, private readonly pageSize: number) {
    const file = path.join(dir, `pagemap-${pid}.img`);
    if (!existsSync(file)) throw new Error(`pages of task ${pid} asked for, but ${dir} has no pagemap-${pid}.img (is this the dump being restored?)`);
    const reader = new PageReader(file, undefined, pageSize);
    try {
      for (const r of reader) if ((r.flags & PE_PRESENT) !== 0 && r.offset >= 0) this.runs.push({ vaddr: r.vaddr, nrPages: r.nrPages, offset: r.offset });
      this.fd = openSync(reader.pagesPath, 'r');
    } finally {
      reader.close();
    }
  }

  /** The bytes of up to `nr` pages at vaddr, as far as the run holding vaddr goes; undefined when none holds it. */
  read(vaddr: bigint, nr: number): Buffer | undefined {
    const page = BigInt(this.pageSize);
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.runs[mid]!;
      if (vaddr < r.vaddr) hi = mid - 1;
      else if (vaddr >= r.vaddr + BigInt(r.nrPages) * page) lo = mid + 1;
      else {
        const idx = Number((vaddr - r.vaddr) / page);
        const n = Math.min(nr, r.nrPages - idx);
        const b = Buffer.allocUnsafe(n * this.pageSize);
        const at = r.offset + idx * this.pageSize;
        for (let got = 0; got < b.length;) {
          const k = readSync(this.fd, b, got, b.length - got, at + got);
          if (k <= 0) throw new Error(`the pages image of task ${this.pid} ends early at byte ${at + got}`);
          got += k;
        }
        return b;
      }
    }
    return undefined;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Answers PS_IOV_GET from the images in dir until the client closes the session. */
export async function serveLazySession(io: SocketIo, dir: string, pageSize: number): Promise<LazyServeStats> {
  const tasks = new Map<number, TaskPages>();
  const stats: LazyServeStats = { requests: 0, pages: 0 };
  try {
    for (;;) {
      const b = await io.readExact(PSI_SIZE, 'a command');
      if (b === undefined) return stats; // CRIU's lazy-pages may just close
      const pi = decodePsi(b);
      const cmd = psCmd(pi.cmd);
      if (cmd === PS_IOV_CLOSE || cmd === PS_IOV_FORCE_CLOSE) {
        await io.write(Buffer.alloc(4)); // status 0
        await io.atEnd();
        return stats;
      }
      if (cmd !== PS_IOV_GET) throw new Error(`command ${pi.cmd} to a page server started with --lazy-pages, which only serves pages (PS_IOV_GET); is the peer a dump? Start the page server without --lazy-pages for that`);
      const pid = Number(pi.dstId);
      let t = tasks.get(pid);
      if (t === undefined) tasks.set(pid, (t = new TaskPages(pid, dir, pageSize)));
      const data = pi.nrPages > 0n ? t.read(pi.vaddr, Number(pi.nrPages)) : undefined;
      if (data === undefined) throw new Error(`task ${pid}: page 0x${pi.vaddr.toString(16)} asked for is not in the dump in ${dir}`);
      const n = data.length / pageSize;
      await io.write(encodePsi({ cmd: psAddF(PE_PRESENT), nrPages: BigInt(n), vaddr: pi.vaddr, dstId: pi.dstId }));
      await io.write(data);
      stats.requests++;
      stats.pages += n;
    }
  } finally {
    for (const t of tasks.values()) t.close();
  }
}

