/**
 * `cryo lazy-pages -D DIR [--page-server --address A --port N]`: listens on DIR/cryo-lazy.sock for
 * `cryo restore --lazy-pages`, takes each restored task's userfaultfd from it (pidfd_getfd) and
 * fills the task's lazy pages, from the images in DIR (and its chain of parent dumps) or, with a page server, from the server
 * (PS_IOV_GET; the images here are then only read for where the lazy pages are): a faulting page at
 * once (UFFDIO_COPY, or UFFDIO_ZEROPAGE for a page the dump did not have), the others in the
 * background, in address order. It ends when every task has all its pages (its copy of the
 * userfaultfd closes and the kernel unregisters the memory) or is gone.
 */
import net from 'node:net';
import { closeSync, openSync, readSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PE_LAZY, PE_PARENT } from '../images/flags.js';
import { ChainError, PageChain } from '../images/page-chain.js';
import { readMaps } from '../proc/index.js';
import { PageReader, type PageRun } from '../images/pages.js';
import { SysError, UFFD_EVENT_PAGEFAULT, UFFD_MSG_SIZE, pidfdGetfd, pidfdOpen, readU64, uffdCopy, uffdZeropage } from '../sys/index.js';
import { LAZY_SOCKET } from '../restore/lazy.js';
import { RemotePages } from '../page-server/lazy-client.js';
import { constants } from 'node:os';
import { kill } from '../sys/index.js';
import { CRYO_MANIFEST_IMAGE, differs, pieceMatches, readManifest, type ManifestEntry } from '../images/cryo-manifest.js';

const SIGKILL = constants.signals.SIGKILL;

export interface LazyStats { pid: number; faults: number; pages: number; ms: number }

/** Lazy pages at vaddr: at `offset` of `file` (a pages image of the dump or of a parent dump), or on the page server (no file). */
interface Run { vaddr: bigint; nrPages: number; offset: number; file?: string }

/** A page the dump's manifest says was written otherwise: the task that would read it is killed. */
export class AlteredPages extends Error {}

/** Lazy pages that cannot be found (a parent dump's image missing or unreadable): the task is killed before it runs. */
class UnservablePages extends Error {}

/**
 * The pages image's bytes, read a manifest piece at a time (a page run, or part of one) and each
 * piece checked against its hash (BLAKE3, or SHA-256 in an older manifest) before any of it is handed out (without a manifest, unchecked).
 */
class CheckedPages {
  private readonly entry: ManifestEntry | undefined;
  private readonly buf: Buffer;
  private held = -1; // the piece in buf
  constructor(private readonly fd: number, private readonly file: string, dir: string) {
    this.entry = readManifest(dir)?.find((e) => e.name === path.basename(file) && !e.elsewhere);
    this.buf = Buffer.allocUnsafe(this.entry ? this.entry.pieces.reduce((m, p) => Math.max(m, p.length), 0) : 0);
  }

  /** Up to `length` bytes at `offset` (fewer where a piece ends), copied into `into` unless checked. */
  read(offset: number, length: number, into: Buffer): Buffer {
    if (this.entry === undefined) {
      const data = into.subarray(0, length);
      const got = readSync(this.fd, data, 0, length, offset);
      if (got !== length) throw new Error(`${this.file} ends early at byte ${offset + got}`);
      return data;
    }
    const pieces = this.entry.pieces;
    let lo = 0;
    let hi = pieces.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (pieces[mid]!.offset <= offset) lo = mid;
      else hi = mid - 1;
    }
    const p = pieces[lo];
    if (p === undefined || offset < p.offset || offset >= p.offset + p.length) throw new AlteredPages(`${this.file}: byte ${offset} is in no piece of ${CRYO_MANIFEST_IMAGE}`);
    if (this.held !== lo) {
      this.held = -1;
      const got = readSync(this.fd, this.buf, 0, p.length, p.offset);
      if (!pieceMatches(this.entry, lo, this.buf.subarray(0, got))) throw new AlteredPages(differs(this.file, p, this.entry.alg));
      this.held = lo;
    }
    return this.buf.subarray(offset - p.offset, Math.min(p.length, offset - p.offset + length));
  }
}

/** Pages filled from a faulting page on (within its run and its checked piece). */
const FAULT_AHEAD = 16;

/** One restored task: its userfaultfd, its lazy runs, how far the background copy got. */
class LazyTask {
  private readonly runs: Run[] = [];
  /** Each pages image the runs read, open, its bytes checked against its dump's manifest. */
  private readonly files = new Map<string, { fd: number; pages: CheckedPages }>();
  private next = 0; // index of the run the background copy is in
  private nextPage = 0; // page within it
  private readonly buf: Buffer;
  readonly stats: LazyStats;
  done = false;
  private readonly t0 = performance.now();

  /** This dump's lazy runs in address order, those left to a parent dump not yet looked up in the chain. */
  private pending: (Run | PageRun)[] = [];

  /**
   * Reads this dump's pagemap only: what the restore must hear of before the task runs (runs whose
   * bytes are nowhere here). The chain of parent dumps is looked up by resolve(), once the restore
   * was told the memory is taken, while it finishes the task on the other core.
   */
  constructor(readonly pid: number, private readonly uffd: number, private readonly dir: string, private readonly pageSize: number, private readonly remote: RemotePages | undefined) {
    const reader = new PageReader(path.join(dir, `pagemap-${pid}.img`), undefined, pageSize);
    try {
      for (const r of reader) {
        if ((r.flags & PE_LAZY) === 0) continue;
        if ((r.flags & PE_PARENT) !== 0) { this.pending.push(r); continue; }
        // Runs marked lazy and not present (CRIU's `dump --lazy-pages`) have their bytes on a page server only.
        if (r.offset < 0 && remote === undefined) {
          throw new Error(`the lazy pages of task ${pid} at 0x${r.vaddr.toString(16)} are not in ${dir}: serve them from a page server (--page-server --address A --port N)`);
        }
        this.pending.push({ vaddr: r.vaddr, nrPages: r.nrPages, offset: r.offset, file: remote === undefined ? reader.pagesPath : undefined });
      }
    } finally {
      reader.close();
    }
    this.buf = Buffer.allocUnsafe(64 * pageSize);
    this.stats = { pid, faults: 0, pages: 0, ms: 0 };
  }

  /** The runs left to parent dumps, found in the chain, and every pages image opened; throws UnservablePages. */
  resolve(): void {
    const name = `pagemap-${this.pid}.img`;
    let chain: PageChain | undefined;
    try {
      for (const r of this.pending) {
        if (!('flags' in r)) { this.runs.push(r); continue; }
        // Pages left to a parent dump of the chain (a pre-dump): read from where the chain has them.
        chain ??= new PageChain(this.dir, name, this.pageSize);
        for (const seg of chain.segmentsOf(r)) this.runs.push({ vaddr: seg.vaddr, nrPages: seg.len / this.pageSize, offset: seg.offset, file: seg.file });
      }
      for (const r of this.runs) if (r.file !== undefined) this.pagesOf(r.file);
    } catch (e) {
      this.closeFiles();
      throw new UnservablePages(e instanceof ChainError ? `the lazy pages of task ${this.pid} in the parent dumps: ${e.message}` : (e as Error).message);
    } finally {
      this.pending = [];
    }
  }

  private pagesOf(file: string): CheckedPages {
    let f = this.files.get(file);
    if (f === undefined) {
      const fd = openSync(file, 'r');
      f = { fd, pages: new CheckedPages(fd, file, path.dirname(file)) };
      this.files.set(file, f);
    }
    return f.pages;
  }

  private closeFiles(): void {
    for (const f of this.files.values()) closeSync(f.fd);
    this.files.clear();
  }

  /** Serves every fault waiting; false when the task is gone. */
  async serveFaults(): Promise<boolean> {
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
        // The pages after it too: a task that runs on writing its memory in order (as one catching
        // up after its freeze does) would stop at every page.
        await this.fill(addr, FAULT_AHEAD);
      }
    }
  }

  /** Copies up to `pages` pages at addr where the dump has them (within the run), else the one zero page; returns how many it copied. */
  private async fill(addr: bigint, pages: number): Promise<number> {
    const page = BigInt(this.pageSize);
    const r = this.runAt(addr);
    if (r === undefined) {
      // Only the page asked for: the next ones may be a run's.
      uffdZeropage(this.uffd, addr, this.pageSize);
      return 1;
    }
    const idx = Number((addr - r.vaddr) / page);
    const n = Math.min(pages, r.nrPages - idx, this.buf.length / this.pageSize);
    const data = r.file === undefined
      ? await this.remote!.get(this.pid, addr, n)
      : this.pagesOf(r.file).read(r.offset + idx * this.pageSize, n * this.pageSize, this.buf);
    // The kernel copies within one mapping (ENOENT otherwise): a run may go on into the next one
    // (two mappings side by side that the kernel keeps apart), then the rest goes page by page.
    let step = data.length;
    for (let done = 0; done < data.length;) {
      const at = addr + BigInt(done);
      let c: number;
      try {
        c = uffdCopy(this.uffd, at, data.subarray(done, Math.min(data.length, done + step)));
      } catch (e) {
        if (!(e instanceof SysError && e.code === 'ENOENT')) throw e;
        if (step > this.pageSize) { step = this.pageSize; continue; }
        const next = this.mappedFrom(at);
        if (next === at) throw new Error(`cannot fill task ${this.pid}'s page at 0x${at.toString(16)}: ENOENT from UFFDIO_COPY, though it is mapped (not registered for lazy pages)`, { cause: e });
        // Unmapped by the task meanwhile: nothing to fill up to its next mapping.
        done = next === undefined ? data.length : Math.min(data.length, done + Number(next - at));
        step = data.length;
        continue;
      }
      if (c < 0) { done += this.pageSize; continue; } // already there (a fault served it)
      done += c;
      this.stats.pages += c / this.pageSize;
    }
    return data.length / this.pageSize;
  }

  /** Where the task's memory is mapped from `at` on now: `at` if it is mapped, else the next mapping's start (undefined: none, or the task is gone). */
  private mappedFrom(at: bigint): bigint | undefined {
    let maps;
    try {
      maps = readMaps(this.pid);
    } catch {
      return undefined;
    }
    let next: bigint | undefined;
    for (const v of maps) {
      if (v.start <= at && at < v.end) return at;
      if (v.start > at && (next === undefined || v.start < next)) next = v.start;
    }
    return next;
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
  async background(): Promise<void> {
    const r = this.runs[this.next];
    if (r === undefined) {
      this.finish();
      return;
    }
    const n = Math.min(64, r.nrPages - this.nextPage);
    this.nextPage += await this.fill(r.vaddr + BigInt(this.nextPage * this.pageSize), n);
    if (this.nextPage >= r.nrPages) { this.next++; this.nextPage = 0; }
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    this.stats.ms = Math.round(performance.now() - this.t0);
    closeSync(this.uffd);
    this.closeFiles();
  }
}

/** Serves until the restore has handed over its tasks and every one has all its pages. */
export async function serveLazyPages(dir: string, pageSize: number, onListening: () => void, log: (s: string) => void, pageServer?: { address: string; port: number }): Promise<LazyStats[]> {
  // Connected first: an unreachable server fails before the restore starts.
  const remote = pageServer === undefined ? undefined : await RemotePages.connect(pageServer.address, pageServer.port, pageSize);
  try {
    return await serveTasks(dir, pageSize, onListening, log, remote);
  } catch (e) {
    remote?.abort();
    throw e;
  }
}

async function serveTasks(dir: string, pageSize: number, onListening: () => void, log: (s: string) => void, remote: RemotePages | undefined): Promise<LazyStats[]> {
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
          let t: LazyTask;
          try { t = new LazyTask(pid, uffd, dir, pageSize, remote); } catch (e) { closeSync(uffd); throw e; }
          tasks.push(t);
          sock.write('ok\n');
          try {
            t.resolve();
          } catch (e) {
            // The restore goes on meanwhile: its task is killed before it runs, and so fails.
            try { kill(pid, SIGKILL); } catch { /* gone */ }
            t.finish();
            failure ??= new Error(`task ${pid} was killed before it ran: ${(e as Error).message}`);
          }
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
  try {
    for (;;) {
      for (const t of tasks) {
        if (t.done) continue;
        try {
          if (!(await t.serveFaults())) { t.finish(); continue; }
          for (let i = 0; i < 16 && !t.done; i++) {
            await t.background();
            if (!t.done && !(await t.serveFaults())) t.finish();
          }
        } catch (e) {
          if (e instanceof SysError && e.code === 'ESRCH') { log(`task ${t.pid} is gone`); t.finish(); continue; }
          if (e instanceof AlteredPages) {
            // The task runs already: with pages it must not have, it is killed rather than left to read zeros.
            try { kill(t.pid, SIGKILL); } catch { /* gone */ }
            throw new Error(`task ${t.pid} was killed: its lazy pages were altered since the dump: ${e.message}`);
          }
          throw e;
        }
      }
      if (restoreDone && tasks.every((t) => t.done)) break;
      await new Promise((r) => setTimeout(r, tasks.some((t) => !t.done) ? 0 : 5));
    }
    await remote?.close();
  } catch (e) {
    failure = e as Error;
    for (const t of tasks) t.finish();
    server.close();
  }
  rmSync(sockPath, { force: true });
  if (failure) throw failure;
  return tasks.map((t) => t.stats);
}
