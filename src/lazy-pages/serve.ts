/**
 * `cryo lazy-pages -D DIR`: listens on DIR/cryo-lazy.sock for `cryo restore --lazy-pages`, takes
 * each restored task's userfaultfd from it (pidfd_getfd) and fills the task's lazy pages from the
 * images: a faulting page at once (UFFDIO_COPY, or UFFDIO_ZEROPAGE for a page the dump did not
 * have), the others in the background, in address order. It ends when every task has all its pages
 * (its copy of the userfaultfd closes and the kernel unregisters the memory) or is gone.
 */
import net from 'node:net';
import { closeSync, openSync, readSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PE_LAZY } from '../images/flags.js';
import { PageReader } from '../images/pages.js';
import { SysError, UFFD_EVENT_PAGEFAULT, UFFD_MSG_SIZE, pidfdGetfd, pidfdOpen, readU64, uffdCopy, uffdZeropage } from '../sys/index.js';
import { LAZY_SOCKET } from '../restore/lazy.js';

export interface LazyStats { pid: number; faults: number; pages: number; ms: number }

interface Run { vaddr: bigint; nrPages: number; offset: number }

/** One restored task: its userfaultfd, its lazy runs, how far the background copy got. */
class LazyTask {
  private readonly runs: Run[] = [];
  private readonly pagesFd: number;
  private next = 0; // index of the run the background copy is in
  private nextPage = 0; // page within it
  private readonly buf: Buffer;
  readonly stats: LazyStats;
  done = false;
  private readonly t0 = performance.now();

  constructor(readonly pid: number, private readonly uffd: number, dir: string, private readonly pageSize: number) {
    const reader = new PageReader(path.join(dir, `pagemap-${pid}.img`), undefined, pageSize);
    try {
      for (const r of reader) if ((r.flags & PE_LAZY) !== 0 && r.offset >= 0) this.runs.push({ vaddr: r.vaddr, nrPages: r.nrPages, offset: r.offset });
      this.pagesFd = openSync(reader.pagesPath, 'r');
    } finally {
      reader.close();
    }
    this.buf = Buffer.allocUnsafe(64 * pageSize);
    this.stats = { pid, faults: 0, pages: 0, ms: 0 };
  }

  /** Serves every fault waiting; false when the task is gone. */
  serveFaults(): boolean {
    const msg = Buffer.allocUnsafe(UFFD_MSG_SIZE * 16);
    for (;;) {
      let n: number;
      try {
        n = readSync(this.uffd, msg, 0, msg.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return true;
        throw e;
      }
      if (n <= 0) return false;
      for (let at = 0; at + UFFD_MSG_SIZE <= n; at += UFFD_MSG_SIZE) {
        if (msg[at] !== UFFD_EVENT_PAGEFAULT) continue;
        const addr = readU64(msg, at + 16) & ~BigInt(this.pageSize - 1);
        this.stats.faults++;
        this.fill(addr, 1);
      }
    }
  }

  /** Copies `pages` pages at addr (where the dump has them; else zero pages). */
  private fill(addr: bigint, pages: number): void {
    const page = BigInt(this.pageSize);
    const r = this.runAt(addr);
    if (r === undefined) {
      uffdZeropage(this.uffd, addr, pages * this.pageSize);
      return;
    }
    const idx = Number((addr - r.vaddr) / page);
    const n = Math.min(pages, r.nrPages - idx, this.buf.length / this.pageSize);
    const data = this.buf.subarray(0, n * this.pageSize);
    const got = readSync(this.pagesFd, data, 0, data.length, r.offset + idx * this.pageSize);
    if (got !== data.length) throw new Error(`the pages image of task ${this.pid} ends early at byte ${r.offset + idx * this.pageSize}`);
    for (let done = 0; done < data.length;) {
      const c = uffdCopy(this.uffd, addr + BigInt(done), data.subarray(done));
      if (c < 0) { done += this.pageSize; continue; } // already there (a fault served it)
      done += c;
      this.stats.pages += c / this.pageSize;
    }
  }

  private runAt(addr: bigint): Run | undefined {
    let lo = 0;
    let hi = this.runs.length - 1;
    const page = BigInt(this.pageSize);
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.runs[mid]!;
      if (addr < r.vaddr) hi = mid - 1;
      else if (addr >= r.vaddr + BigInt(r.nrPages) * page) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  /** Copies the next chunk in the background; sets done after the last. */
  background(): void {
    const r = this.runs[this.next];
    if (r === undefined) {
      this.finish();
      return;
    }
    const n = Math.min(64, r.nrPages - this.nextPage);
    this.fill(r.vaddr + BigInt(this.nextPage * this.pageSize), n);
    this.nextPage += n;
    if (this.nextPage >= r.nrPages) { this.next++; this.nextPage = 0; }
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    this.stats.ms = Math.round(performance.now() - this.t0);
    closeSync(this.uffd);
    closeSync(this.pagesFd);
  }
}

/** Serves until the restore has handed over its tasks and every one has all its pages. */
export async function serveLazyPages(dir: string, pageSize: number, onListening: () => void, log: (s: string) => void): Promise<LazyStats[]> {
  const sockPath = path.join(dir, LAZY_SOCKET);
  rmSync(sockPath, { force: true });
  const tasks: LazyTask[] = [];
  let restoreDone = false;
  let failure: Error | undefined;
  const server = net.createServer((sock) => {
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl; (nl = buf.indexOf('\n')) >= 0;) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const { pid, holder, fd } = JSON.parse(line) as { pid: number; holder: number; fd: number };
          const pidfd = pidfdOpen(holder);
          let uffd: number;
          try { uffd = pidfdGetfd(pidfd, fd); } finally { closeSync(pidfd); }
          tasks.push(new LazyTask(pid, uffd, dir, pageSize));
          sock.write('ok\n');
        } catch (e) {
          sock.write(`cannot take the memory of a restored task: ${(e as Error).message}\n`);
        }
      }
    });
    sock.on('close', () => { restoreDone = true; server.close(); });
    sock.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`cannot listen on ${sockPath}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    server.listen(sockPath, () => { onListening(); resolve(); });
  });
  // Faults first, then a chunk of background copy per task, then let the event loop run.
  await new Promise<void>((resolve) => {
    const tick = () => {
      try {
        for (const t of tasks) {
          if (t.done) continue;
          try {
            if (!t.serveFaults()) { t.finish(); continue; }
            for (let i = 0; i < 16 && !t.done; i++) { t.background(); if (!t.done && !t.serveFaults()) t.finish(); }
          } catch (e) {
            if (e instanceof SysError && e.code === 'ESRCH') { log(`task ${t.pid} is gone`); t.finish(); continue; }
            throw e;
          }
        }
      } catch (e) {
        failure = e as Error;
        for (const t of tasks) t.finish();
        resolve();
        return;
      }
      if (restoreDone && tasks.every((t) => t.done)) { resolve(); return; }
      setTimeout(tick, tasks.some((t) => !t.done) ? 0 : 5);
    };
    tick();
  });
  rmSync(sockPath, { force: true });
  if (failure) throw failure;
  return tasks.map((t) => t.stats);
}
