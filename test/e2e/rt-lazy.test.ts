// `cryo restore --lazy-pages` with `cryo lazy-pages` (test/programs/rt-lazy.c, 64 MiB of anonymous
// memory): the restore leaves the dump's lazy pages out, the task runs with its memory registered
// with a userfaultfd that cryo lazy-pages holds, and reads all of it after the restore, page by page
// and byte by byte; a byte altered in the pages image (and the manifest written again) is what the
// program finds; lazy-pages serving pages that differ from the manifest refuses them. Times measured: the
// restore (until the task runs) and lazy-pages (until all its memory has arrived), beside an eager restore.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, cpSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import { PE_LAZY, PageReader } from '../../src/images/index.js';
import { __WALL, WNOHANG, kill, signaled, sleepSync, termSig, waitpid } from '../../src/sys/index.js';
import { restore } from '../../src/restore/index.js';
import { dumpTask, restoreTask } from '../helpers/cryo-ops.js';
import { startTarget } from '../helpers/dump-target.js';
import { becomeSubreaper, cleanedUpAfterFile, nothingLeftBehind, resealImages, waitGone } from '../helpers/restore-env.js';
import { startLazyPages } from '../helpers/lazy-pages.js';
import { hostArch } from '../../src/arch/index.js';

/** The system's page (64 KiB on ppc64le's -64k kernels); the program's "pages" are 4 KiB units. */
const pageSize = BigInt((await hostArch()).pageSize);
const AREA_PAGES = (64n << 20n) / pageSize;
/** Where the program's 4 KiB unit 5000 is, and the run of the dump that holds it. */
const unitAt = (area: bigint) => area + 4096n * 5000n;

const { targets } = cleanedUpAfterFile();

test('a lazy restore: the task runs first, its memory arrives as it reads it, every byte right', async () => {
  becomeSubreaper();
  const t = startTarget('rt-lazy');
  targets.push(t);
  const pid = t.pid;
  const readyLine = readFileSync(t.outFile, 'utf8').split('\n')[0]!;
  const area = BigInt(`0x${/area=([0-9a-f]+)/.exec(readyLine)![1]!}`);
  const dumpDir = path.join(t.dir, 'dump');
  await dumpTask({ pid, dir: dumpDir });
  try { waitpid(pid, __WALL); } catch { /* reaped */ }
  assert.ok(waitGone(pid));
  const reader = new PageReader(path.join(dumpDir, `pagemap-${pid}.img`), undefined, Number(pageSize));
  const runs = [...reader];
  reader.close();
  const lazyPages = runs.filter((r) => (r.flags & PE_LAZY) !== 0).reduce((n, r) => n + r.nrPages, 0);
  assert.ok(lazyPages >= AREA_PAGES, `the area's pages are lazy in the dump (${lazyPages})`);

  const restoreOnce = async (lazy: boolean, edit?: (dir: string) => void): Promise<{ out: string; restoreMs: number; lazyLine: string }> => {
    const dir = mkdtempSync(path.join(t.dir, 'r-'));
    cpSync(dumpDir, dir, { recursive: true });
    if (edit) {
      edit(dir);
      resealImages(dir); // past restore's hash check: what lazy-pages serves is what the task reads
    }
    truncateSync(t.outFile, Buffer.byteLength(readyLine) + 1);
    const server = lazy ? await startLazyPages(dir) : undefined;
    try {
      const t0 = performance.now();
      const r = await restoreTask({ dir, lazyPages: lazy });
      const restoreMs = performance.now() - t0;
      assert.equal(r.pid, pid);
      const s = await server?.done;
      if (s) assert.equal(s.status, 0, `cryo lazy-pages: ${s.stderr}`);
      assert.ok(!existsSync(path.join(dir, 'cryo-lazy.sock')));
      return { out: t.finish(), restoreMs, lazyLine: s?.stdout.trim().split('\n').pop() ?? '' };
    } finally {
      server?.kill();
      try { kill(pid, 9); waitpid(pid, __WALL); } catch { /* gone */ }
      const left = nothingLeftBehind(pid);
      rmSync(dir, { recursive: true, force: true });
      if (left) throw new Error(`after the restore: ${left}`);
    }
  };
  const eager = await restoreOnce(false);
  assert.equal(eager.out, 'PASS');
  const lazy = await restoreOnce(true);
  assert.equal(lazy.out, 'PASS');
  console.log(`64 MiB: eager restore ${eager.restoreMs.toFixed(0)} ms; lazy restore ${lazy.restoreMs.toFixed(0)} ms until the task runs; ${lazy.lazyLine}`);
  assert.match(lazy.lazyLine, /task \d+: (\d+) pages in \d+ ms/);
  assert.ok(Number(/: (\d+) pages/.exec(lazy.lazyLine)![1]) >= AREA_PAGES, 'lazy-pages copied the area');

  // A byte of a lazy page of the area altered in the image: the program reads it after the restore.
  const altered = await restoreOnce(true, (dir) => {
    const r = runs.find((x) => (x.flags & PE_LAZY) !== 0 && x.vaddr <= unitAt(area) && x.vaddr + BigInt(x.nrPages) * pageSize > unitAt(area))!;
    const fd = openSync(path.join(dir, `pages-1.img`), 'r+');
    writeSync(fd, Buffer.from([0x11]), 0, 1, r.offset + Number(unitAt(area) - r.vaddr) + 200);
    closeSync(fd);
  });
  assert.match(altered.out, /^FAIL: page 5000 byte 200 is 0x11/);

  // lazy-pages serving pages that differ from the manifest (restore checked an intact copy, and
  // reaches lazy-pages through a link to its socket): it checks each page run it reads, kills the
  // task, and names the bytes and the run.
  const dir = mkdtempSync(path.join(t.dir, 'r-'));
  cpSync(dumpDir, dir, { recursive: true });
  const served = mkdtempSync(path.join(t.dir, 'served-'));
  cpSync(dumpDir, served, { recursive: true });
  const r5000 = runs.find((x) => (x.flags & PE_LAZY) !== 0 && x.vaddr <= unitAt(area) && x.vaddr + BigInt(x.nrPages) * pageSize > unitAt(area))!;
  const fd = openSync(path.join(served, 'pages-1.img'), 'r+');
  writeSync(fd, Buffer.from([0x11]), 0, 1, r5000.offset + Number(unitAt(area) - r5000.vaddr) + 200);
  closeSync(fd);
  truncateSync(t.outFile, Buffer.byteLength(readyLine) + 1);
  const server = await startLazyPages(served);
  symlinkSync(path.join(served, 'cryo-lazy.sock'), path.join(dir, 'cryo-lazy.sock'));
  try {
    // lazy-pages copies in the background from the handover on: it may find the altered run (and kill
    // the task) before restore is done, which then fails; else the restored task is killed.
    const restored = await restore({ dir, lazyPages: true, detach: true }).then(() => undefined, (e: Error) => e.message);
    const s = await server.done;
    assert.equal(s.status, 1, s.stderr);
    assert.match(s.stderr, new RegExp(`task ${pid} was killed: its lazy pages were altered since the dump: .*/pages-1\\.img: bytes \\d+-\\d+ \\(pages from 0x[0-9a-f]+\\) differ from what the dump wrote`));
    if (restored !== undefined) {
      assert.match(restored, /the half-restored process (\d+ )?was killed/);
    } else {
      let status: number | undefined;
      for (const end = Date.now() + 20_000; status === undefined && Date.now() < end; sleepSync(20)) {
        const w = waitpid(pid, WNOHANG | __WALL);
        if (w.pid === pid) status = w.status;
      }
      assert.ok(status !== undefined && signaled(status) && termSig(status) === 9, 'the task was killed');
    }
  } finally {
    server.kill();
    await server.done;
    try { kill(pid, 9); waitpid(pid, __WALL); } catch { /* gone */ }
    const left = nothingLeftBehind(pid);
    rmSync(dir, { recursive: true, force: true });
    rmSync(served, { recursive: true, force: true });
    if (left) throw new Error(`after the restore: ${left}`);
  }
});
