// Lazy pages from a page server (PS_IOV_GET), as CRIU's `lazy-pages --page-server` takes them: the
// dump of test/programs/rt-lazy.c (64 MiB) stays on "machine A", where `cryo page-server
// --lazy-pages` serves it; "machine B" has the dump's images without the bytes of its lazy pages
// (their pagemap entries marked PE_LAZY only, as CRIU's `dump --lazy-pages` writes them), and
// `cryo lazy-pages --page-server` there fills the restored task's memory from the server, on fault
// and in the background. The task reads all of it back, byte by byte. Over loopback and over a
// veth pair into another network namespace. A byte altered in A's images is what the program finds;
// B alone cannot restore (an eager restore and lazy-pages without the server are refused).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import { PE_LAZY, PE_PRESENT, PageReader, PageWriter } from '../../src/images/index.js';
import { __WALL, kill, waitpid } from '../../src/sys/index.js';
import { dumpTask, restoreTask } from '../helpers/cryo-ops.js';
import { startTarget, type Target } from '../helpers/dump-target.js';
import { becomeSubreaper, nothingLeftBehind, resealImages, waitGone } from '../helpers/restore-env.js';
import { startLazyPages } from '../helpers/lazy-pages.js';
import { startPageServer } from '../helpers/page-server.js';

let target: Target | undefined;
const cleanups: (() => void)[] = [];
after(() => {
  for (const c of cleanups.reverse()) { try { c(); } catch { /* best effort */ } }
  if (!target) return;
  try { kill(target.pid, 9); } catch { /* gone */ }
  waitGone(target.pid);
  rmSync(target.dir, { recursive: true, force: true });
});

let dumpDir = '';
let readyLine = '';
let area = 0n;

/** B's copy of the dump: every image, but the task's lazy runs without bytes (PE_LAZY only). */
function withoutLazyBytes(from: string, pid: number): string {
  const to = mkdtempSync(path.join(target!.dir, 'b-'));
  cpSync(from, to, { recursive: true });
  const reader = new PageReader(path.join(from, `pagemap-${pid}.img`));
  const pagesName = path.basename(reader.pagesPath);
  const id = Number(/^pages-(\d+)\.img$/.exec(pagesName)![1]);
  rmSync(path.join(to, pagesName));
  const w = new PageWriter({ pagemapFile: path.join(to, `pagemap-${pid}.img`), pagesFile: path.join(to, pagesName), pagesId: id });
  let lazy = 0;
  try {
    for (const r of reader) {
      if ((r.flags & PE_LAZY) !== 0 && (r.flags & PE_PRESENT) !== 0) { w.addRun(r.vaddr, r.nrPages, PE_LAZY); lazy += r.nrPages; continue; }
      if (r.offset < 0) { w.addRun(r.vaddr, r.nrPages, r.flags); continue; }
      w.addPages(r.vaddr, reader.read(r.offset, r.nrPages * 4096), r.flags);
    }
  } finally {
    w.close();
    reader.close();
  }
  assert.ok(lazy >= 16384, `B lacks the area's pages (${lazy} lazy pages)`);
  resealImages(to); // B's images are made so, as CRIU's dump --lazy-pages makes them
  return to;
}

async function restoreFrom(serverDir: string, address: string, netns?: string): Promise<{ out: string; served: string; lazyLine: string }> {
  const t = target!;
  const b = withoutLazyBytes(dumpDir, t.pid);
  truncateSync(t.outFile, Buffer.byteLength(readyLine) + 1);
  const ps = await startPageServer(['-D', serverDir, '--address', address, '--lazy-pages'], netns);
  cleanups.push(ps.kill);
  const lp = await startLazyPages(b, ['--page-server', '--address', address, '--port', String(ps.port)]);
  cleanups.push(lp.kill);
  try {
    const r = await restoreTask({ dir: b, lazyPages: true });
    assert.equal(r.pid, t.pid);
    const l = await lp.done;
    assert.equal(l.status, 0, `cryo lazy-pages: ${l.stderr}`);
    const s = await ps.done;
    assert.equal(s.status, 0, `cryo page-server: ${s.stderr}`);
    return { out: t.finish(), served: s.stdout.trim(), lazyLine: l.stdout.trim().split('\n').pop() ?? '' };
  } finally {
    lp.kill();
    ps.kill();
    try { kill(t.pid, 9); waitpid(t.pid, __WALL); } catch { /* gone */ }
    const left = nothingLeftBehind(t.pid);
    rmSync(b, { recursive: true, force: true });
    if (left) throw new Error(`after the restore: ${left}`);
  }
}

test('dump of a 64 MiB task; B has its images without the lazy pages and cannot restore alone', async () => {
  becomeSubreaper();
  target = startTarget('rt-lazy');
  const t = target;
  readyLine = readFileSync(t.outFile, 'utf8').split('\n')[0]!;
  area = BigInt(`0x${/area=([0-9a-f]+)/.exec(readyLine)![1]!}`);
  dumpDir = path.join(t.dir, 'a');
  await dumpTask({ pid: t.pid, dir: dumpDir });
  try { waitpid(t.pid, __WALL); } catch { /* reaped */ }
  assert.ok(waitGone(t.pid));

  const b = withoutLazyBytes(dumpDir, t.pid);
  assert.ok(readdirSync(b).every((n) => !n.startsWith('pages-') || readFileSync(path.join(b, n)).length < 1 << 20), 'B holds no more than a few pages');
  await assert.rejects(restoreTask({ dir: b }), /holds task \d+'s pages at 0x[0-9a-f]+ only on a page server .*--lazy-pages/);
  assert.equal(nothingLeftBehind(t.pid), undefined);
  const lp = await startLazyPages(b);
  cleanups.push(lp.kill);
  await assert.rejects(restoreTask({ dir: b, lazyPages: true }), /lazy-pages: .*not in .*serve them from a page server/);
  lp.kill();
  await lp.done; // collected: no zombie of ours left
  try { kill(t.pid, 9); waitpid(t.pid, __WALL); } catch { /* gone */ }
  assert.equal(nothingLeftBehind(t.pid), undefined);
  rmSync(b, { recursive: true, force: true });
});

test('lazy restore with pages from a page server over loopback: every byte right', async () => {
  const r = await restoreFrom(dumpDir, '127.0.0.1');
  console.log(`loopback: ${r.lazyLine}; ${r.served}`);
  assert.equal(r.out, 'PASS');
  assert.ok(Number(/served (\d+) pages/.exec(r.served)![1]) >= 16384, 'the server sent the area');
});

test('a byte altered in the server\'s images is what the restored task reads', async () => {
  const a = mkdtempSync(path.join(target!.dir, 'a2-'));
  cpSync(dumpDir, a, { recursive: true });
  const reader = new PageReader(path.join(a, `pagemap-${target!.pid}.img`));
  const page = area + 4096n * 5000n;
  const run = [...reader].find((x) => (x.flags & PE_LAZY) !== 0 && x.vaddr <= page && x.vaddr + BigInt(x.nrPages) * 4096n > page)!;
  const fd = openSync(reader.pagesPath, 'r+');
  reader.close();
  writeSync(fd, Buffer.from([0x11]), 0, 1, run.offset + Number(page - run.vaddr) + 200);
  closeSync(fd);
  const r = await restoreFrom(a, '127.0.0.1');
  assert.match(r.out, /^FAIL: page 5000 byte 200 is 0x11/);
  rmSync(a, { recursive: true, force: true });
});

test('lazy restore with pages from a page server in another network namespace, over a veth pair', async (tc) => {
  const ns = `cryo-lz-${process.pid}`;
  const veth = `clz${process.pid % 100000}`;
  try {
    execFileSync('ip', ['netns', 'add', ns], { stdio: 'pipe' });
  } catch (e) {
    if (process.env.CI === 'true') throw e;
    tc.skip(`ip netns add failed: ${(e as { stderr?: Buffer }).stderr?.toString().trim()}`);
    return;
  }
  cleanups.push(() => execFileSync('ip', ['netns', 'del', ns]));
  cleanups.push(() => { try { execFileSync('ip', ['link', 'del', `${veth}a`], { stdio: 'pipe' }); } catch { /* went with the namespace */ } });
  const ip = (...a: string[]) => execFileSync('ip', a, { stdio: 'pipe' });
  ip('link', 'add', `${veth}a`, 'type', 'veth', 'peer', 'name', `${veth}b`, 'netns', ns);
  ip('addr', 'add', '10.213.8.1/30', 'dev', `${veth}a`);
  ip('link', 'set', `${veth}a`, 'up');
  ip('-n', ns, 'addr', 'add', '10.213.8.2/30', 'dev', `${veth}b`);
  ip('-n', ns, 'link', 'set', `${veth}b`, 'up');
  const r = await restoreFrom(dumpDir, '10.213.8.2', ns);
  console.log(`veth: ${r.lazyLine}; ${r.served}`);
  assert.equal(r.out, 'PASS');
  assert.ok(existsSync(dumpDir));
});
