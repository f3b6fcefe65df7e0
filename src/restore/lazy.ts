/**
 * `restore --lazy-pages`: the pages the dump marked lazy (PE_LAZY: anonymous private memory, not
 * the page under a stack pointer) are not filled. A userfaultfd made in the restored task (its mm)
 * has their mappings registered for missing-page faults, and cryo's copy goes to `cryo lazy-pages`
 * (DIR/cryo-lazy.sock), which takes it from cryo with pidfd_getfd and fills each page on its first
 * touch (and the rest in the background) from the images. The handover happens before any later
 * step of the restore may touch that memory.
 */
import net from 'node:net';
import { closeSync, existsSync } from 'node:fs';
import path from 'node:path';
import { PE_LAZY, PE_PARENT, PE_PRESENT } from '../images/flags.js';
import { PageReader } from '../images/pages.js';
import type { MessageValue } from '../images/value.js';
import { pidfdGetfd, pidfdOpen, uffdApi, uffdRegisterMissing } from '../sys/index.js';
import type { Range } from '../shared/ranges.js';
import { O_CLOEXEC, O_NONBLOCK } from '../shared/constants.js';
import { RestoreError } from '../shared/restore-error.js';
import type { RestoreImages } from '../shared/restore-images.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { vmaKind } from '../shared/vma-kinds.js';

/** Where `cryo lazy-pages -D DIR` listens. */
export const LAZY_SOCKET = 'cryo-lazy.sock';

/**
 * The lazy runs of a dump's newest pagemap, merged, in address order: those with bytes in its own
 * pages file or in a parent dump of its chain, and those marked lazy only (CRIU's `dump
 * --lazy-pages`: the bytes are on a page server).
 */
export function lazyRanges(img: Pick<RestoreImages, 'pagemapFile'>, pageSize: number): Range[] {
  return lazyRuns(img, pageSize, false);
}

/** The runs whose bytes only a page server has (lazy, not present): an eager restore cannot fill them. */
export function remoteOnlyRanges(img: Pick<RestoreImages, 'pagemapFile'>, pageSize: number): Range[] {
  return lazyRuns(img, pageSize, true);
}

function lazyRuns(img: Pick<RestoreImages, 'pagemapFile'>, pageSize: number, remoteOnly: boolean): Range[] {
  if (!existsSync(img.pagemapFile)) return [];
  const reader = new PageReader(img.pagemapFile, undefined, pageSize);
  const out: Range[] = [];
  try {
    const facts = reader.facts();
    if ((facts.flagsSeen & PE_LAZY) === 0) return out;
    for (const r of reader) {
      if ((r.flags & PE_LAZY) === 0) continue;
      // Lazy only: neither in this dump's pages (PE_PRESENT) nor in its parent's.
      const onServer = (r.flags & (PE_PRESENT | PE_PARENT)) === 0;
      if (remoteOnly && !onServer) continue;
      const start = r.vaddr;
      const end = r.vaddr + BigInt(r.nrPages * pageSize);
      const last = out[out.length - 1];
      if (last && last.end === start) last.end = end; else out.push({ start, end });
    }
  } finally {
    reader.close();
  }
  return out;
}

/** The anonymous private mappings holding lazy ranges: what the userfaultfd registers (whole mappings). */
function lazyVmas(img: RestoreImages, lazy: readonly Range[]): Range[] {
  return ((img.mm.vmas as MessageValue[] | undefined) ?? [])
    .filter((v) => vmaKind(Number(v.status)) === 'anon-private')
    .map((v) => ({ start: BigInt(v.start as bigint), end: BigInt(v.end as bigint) }))
    .filter((v) => lazy.some((r) => r.start < v.end && r.end > v.start));
}

/** Makes the task's userfaultfd, registers its lazy mappings; returns cryo's copy (the task keeps none). */
export function registerLazy(ctx: TaskCtx, lazy: readonly Range[]): number | undefined {
  const vmas = lazyVmas(ctx.img, lazy);
  if (vmas.length === 0) return undefined;
  const inTask = Number(ctx.call('userfaultfd', O_CLOEXEC | O_NONBLOCK));
  let fd: number;
  try {
    const pidfd = pidfdOpen(ctx.pid);
    try {
      fd = pidfdGetfd(pidfd, inTask);
    } finally {
      closeSync(pidfd);
    }
  } finally {
    ctx.call('close', inTask);
  }
  try {
    uffdApi(fd, 0);
    for (const v of vmas) uffdRegisterMissing(fd, v.start, v.end - v.start);
  } catch (e) {
    closeSync(fd);
    throw new RestoreError('FAILED', `cannot register the lazy memory of task ${ctx.pid} with userfaultfd: ${(e as Error).message}`);
  }
  return fd;
}

/** Gives each task's userfaultfd to `cryo lazy-pages` (which copies it out of this process) and closes cryo's copies. */
export async function handOverLazy(dir: string, tasks: readonly { pid: number; fd: number }[]): Promise<void> {
  const sockPath = path.join(dir, LAZY_SOCKET);
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(sockPath);
    s.once('connect', () => resolve(s));
    s.once('error', (e) => reject(new RestoreError('FAILED', `--lazy-pages: nothing listens on ${sockPath} (${(e as NodeJS.ErrnoException).code}): start \`cryo lazy-pages -D ${dir}\` first`)));
  });
  try {
    let got = '';
    sock.on('data', (d: Buffer) => { got += d.toString(); });
    for (const t of tasks) {
      sock.write(JSON.stringify({ pid: t.pid, holder: process.pid, fd: t.fd }) + '\n');
      const want = tasks.indexOf(t) + 1;
      await new Promise<void>((resolve, reject) => {
        const check = () => {
          const lines = got.split('\n').filter((l) => l !== '');
          const bad = lines.find((l) => l !== 'ok');
          if (bad !== undefined) { cleanup(); reject(new RestoreError('FAILED', `cryo lazy-pages: ${bad}`)); } else if (lines.length >= want) { cleanup(); resolve(); }
        };
        const closed = () => { cleanup(); reject(new RestoreError('FAILED', 'cryo lazy-pages closed the connection before it took the task\'s memory')); };
        const cleanup = () => { sock.off('data', check); sock.off('close', closed); };
        sock.on('data', check);
        sock.on('close', closed);
        check();
      });
      closeSync(t.fd);
    }
  } finally {
    sock.end();
  }
}
