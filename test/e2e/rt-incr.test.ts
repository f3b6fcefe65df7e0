// A chain of dumps of a process that keeps writing (test/programs/rt-incr.c): pre-dump, pre-dump
// (--prev-images-dir ../pre1), dump (--prev-images-dir ../pre2 --track-mem). The later dumps write
// only the pages written since the one before (PE_PARENT entries for the rest, a `parent` link as
// CRIU's), the restore reads the chain and the program finds every page at its last version. A
// parent page altered is refused (the parent's manifest names it); altered where no hash was recorded, the
// program itself finds the wrong byte; a missing parent is refused before anything starts.
// The tracking is the one the kernel offers (src/dump/track-method.ts): a userfaultfd's async
// write-protect where it has that (x86_64, arm64 6.12), else soft-dirty (ppc64le, s390x).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { cpSync, existsSync, mkdtempSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile, encodeImage, PageChain, PE_LAZY, PE_PARENT, PE_PRESENT } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { __WALL, WNOHANG, PAGE_IS_PRESENT, PAGE_IS_WRITTEN, kill, pagemapScan, sleepSync, waitpid } from '../../src/sys/index.js';
import { dumpTask } from '../helpers/cryo-ops.js';
import { restoreChainAndFinish } from '../helpers/round-trip.js';
import { startTarget } from '../helpers/dump-target.js';
import { becomeSubreaper, cleanedUpAfterFile, resealImages, waitGone } from '../helpers/restore-env.js';
import { hostArch } from '../../src/arch/index.js';
import { readPageRuns } from '../../src/proc/index.js';
import { writeTrackingProbe } from '../../src/check/memory.js';
import { trackMethod } from '../../src/dump/track-method.js';

const pageSize = (await hostArch()).pageSize;
/** rt-incr.c's area: 1024 pages of 4 KiB, whatever the kernel's page size. */
const AREA_BYTES = 1024n * 4096n;

const { targets } = cleanedUpAfterFile();

const stats = (dir: string) => decodeImageFile(path.join(dir, 'stats-dump')).entries[0]!.value.dump as MessageValue;
const pagemapOf = (dir: string, pid: number) => decodeImageFile(path.join(dir, `pagemap-${pid}.img`)).entries.slice(1).map((e) => e.value);
/** Waits until a holder is gone, collecting it if it became our child (a subreaper's, through the CLI). Soft-dirty has none. */
function holderGone(pid: number | undefined): boolean {
  if (pid === undefined) return true;
  const deadline = Date.now() + 20_000;
  while (existsSync(`/proc/${pid}`)) {
    try { waitpid(pid, WNOHANG | __WALL); } catch { /* not ours */ }
    if (Date.now() > deadline) return false;
    sleepSync(20);
  }
  return true;
}
const stateOf = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as { method: string; holder?: { pid: number } };
const holderOf = (file: string) => stateOf(file).holder?.pid;

test('pre-dump, pre-dump, dump: each writes only what was written since; the chain restores the last state', async () => {
  becomeSubreaper();
  const t = startTarget('rt-incr');
  targets.push(t);
  const pid = t.pid;
  const readyLine = readFileSync(t.outFile, 'utf8').split('\n')[0]!;
  const chain = path.join(t.dir, 'chain');
  mkdirSync(chain, { mode: 0o700 });
  const dir = (n: string) => path.join(chain, n);
  if (trackMethod(pageSize) === undefined) {
    // A kernel with neither tracking (arm64's 6.1): refused in one line, the task untouched.
    await assert.rejects(dumpTask({ pid, dir: dir('pre1'), preDump: true }), /this kernel has no UFFD_FEATURE_WP_ASYNC .* and no soft-dirty .*: it cannot track the memory a task writes; dump without pre-dump/);
    assert.ok(!existsSync(path.join(dir('pre1'), 'cryo-track.json')));
    assert.equal(t.finish(), 'PASS');
    return;
  }

  await dumpTask({ pid, dir: dir('pre1'), preDump: true });
  const holder1 = holderOf(path.join(dir('pre1'), 'cryo-track.json'));
  const method = stateOf(path.join(dir('pre1'), 'cryo-track.json')).method;
  console.log(`write tracking: ${method}`);
  // cryo check names the method the pre-dump used.
  assert.equal(writeTrackingProbe(pageSize).detail?.includes(method === 'soft-dirty' ? 'soft-dirty' : 'UFFD_FEATURE_WP_ASYNC'), true);
  assert.ok(existsSync(`/proc/${pid}`), 'a pre-dump leaves the task running');
  // While tracked, the task's descriptors are its own (the userfaultfd was made and closed in it).
  sleepSync(300);
  await dumpTask({ pid, dir: dir('pre2'), preDump: true, prevImagesDir: '../pre1' });
  assert.ok(!existsSync(path.join(dir('pre1'), 'cryo-track.json')), 'the tracking moved on from pre1');
  sleepSync(300);
  const holder2 = holderOf(path.join(dir('pre2'), 'cryo-track.json'));
  await dumpTask({ pid, dir: dir('final'), prevImagesDir: '../pre2', trackMem: true });
  try { waitpid(pid, __WALL); } catch { /* reaped by dump() */ }
  assert.ok(waitGone(pid), 'the final dump ends the task');
  assert.ok(holderGone(holder1), 'the first holder ended when the second took over');
  assert.ok(holderGone(holder2), 'the chain ended with the dump that ended the task');

  // Fewer pages written after a pre-dump; the rest left to the parent.
  const [s1, s2, s3] = [stats(dir('pre1')), stats(dir('pre2')), stats(dir('final'))];
  const w = (s: MessageValue) => Number(s.pages_written);
  const k = (s: MessageValue) => Number(s.pages_skipped_parent);
  console.log(`pages written: pre-dump ${w(s1)}, pre-dump ${w(s2)} (+${k(s2)} in parent), dump ${w(s3)} (+${k(s3)} in parent)`);
  assert.ok(w(s1) >= Number(AREA_BYTES) / pageSize, 'the first pre-dump writes every page');
  if (pageSize === 4096) {
    assert.ok(w(s2) < w(s1) / 2 && k(s2) > w(s2), 'the second writes fewer pages, most are in its parent');
    assert.ok(w(s3) < w(s1) / 2 && k(s3) > w(s3), 'the dump writes fewer pages, most are in its parent');
  } else {
    // 64 KiB pages (ppc64le's 6.1): the area is 64 pages, and the seconds a dump takes under TCG
    // (50 writes a second) dirty most of them; still, each dump leaves some to its parent.
    assert.ok(w(s2) < w(s1) && k(s2) > 0, 'the second writes fewer pages, some are in its parent');
    assert.ok(w(s3) < w(s1) && k(s3) > 0, 'the dump writes fewer pages, some are in its parent');
  }
  assert.equal(readlinkSync(path.join(dir('final'), 'parent')), '../pre2');
  assert.equal(readlinkSync(path.join(dir('pre2'), 'parent')), '../pre1');
  assert.ok(pagemapOf(dir('final'), pid).some((e) => e.flags === PE_PARENT), 'the pagemap has in_parent entries, as CRIU writes them');

  const area = BigInt(`0x${/area=([0-9a-f]+)/.exec(readyLine)![1]!}`);
  const pageIn = (v: bigint) => v >= area && v < area + AREA_BYTES;
  // A copy of the chain (links kept as written) for each restore; the output file cut back to READY.
  const restoreChain = async (edit?: (root: string) => void, lazy = false): Promise<string> => {
    const root = mkdtempSync(path.join(t.dir, 'restore-'));
    cpSync(chain, root, { recursive: true, verbatimSymlinks: true });
    edit?.(root);
    return restoreChainAndFinish(t, pid, readyLine, root, lazy);
  };
  assert.equal(await restoreChain(), 'PASS');
  // Lazily: the pages left to the parents are lazy too, served by cryo lazy-pages from the chain once the task runs.
  assert.ok(pagemapOf(dir('final'), pid).some((e) => e.flags === (PE_PARENT | PE_LAZY)), 'pages left to a parent in anonymous memory are lazy');
  assert.equal(await restoreChain(undefined, true), 'PASS');
  // A page written between the last pre-dump and the dump, lost (the dump's pagemap leaves it to the
  // parent, which has an older version): the program notices, restored eagerly and lazily.
  for (const lazy of [false, true]) assert.match(await restoreChain((root) => loseWrittenRun(path.join(root, 'final'), pid, pageIn), lazy), /^FAIL: page \d+ holds page \d+ version \d+, its version is \d+/);

  // A page the final dump left to an ancestor, altered there.
  const alter = (root: string) => {
    const c = new PageChain(path.join(root, 'final'), `pagemap-${pid}.img`, pageSize);
    const seg = [...c.segments()].find((s) => !s.file.startsWith(path.join(root, 'final')) && s.len >= pageSize && pageIn(s.vaddr))!;
    const fd = openSync(seg.file, 'r+');
    writeSync(fd, Buffer.from([0x5a]), 0, 1, seg.offset + 100);
    closeSync(fd);
  };
  await assert.rejects(restoreChain(alter), /pages-\d+\.img was altered after .* was dumped against it|parent dump .*\/pre[12] altered since the dump: .*\/pages-\d+\.img: bytes \d+-\d+ \(pages from 0x[0-9a-f]+\) differ from what the dump wrote/);
  // Another image of a parent altered: its manifest names it.
  await assert.rejects(restoreChain((root) => {
    const f = path.join(root, 'pre1', `core-${pid}.img`);
    const b = readFileSync(f);
    b[30]! ^= 1;
    writeFileSync(f, b);
  }), new RegExp(`parent dump .*/pre1 altered since the dump: .*/pre1/core-${pid}\\.img: bytes 0-\\d+ differ from what the dump wrote \\(BLAKE3\\)`));
  // Without cryo's records of the hashes (a chain as CRIU writes it) the program itself notices.
  const unrecorded = await restoreChain((root) => {
    for (const n of ['pre2', 'final']) rmSync(path.join(root, n, 'cryo-parent.json'));
    for (const n of ['pre1', 'pre2', 'final']) rmSync(path.join(root, n, 'cryo-manifest.img'));
    alter(root);
  });
  assert.match(unrecorded, /^FAIL: page \d+ byte 100 is /);
  // A missing parent is refused, naming the link.
  await assert.rejects(restoreChain((root) => rmSync(path.join(root, 'pre1'), { recursive: true })), /final\/\.\.\/pre2|pre2\/parent -> \.\.\/pre1: the parent dump is missing/);
});

/** The first run of the area the dump in `dir` wrote itself, turned into pages left to its parent (its bytes cut out, the manifest made again). */
function loseWrittenRun(dir: string, pid: number, inArea: (v: bigint) => boolean): void {
  const file = path.join(dir, `pagemap-${pid}.img`);
  const img = decodeImageFile(file);
  const pagesFile = path.join(dir, `pages-${Number(img.entries[0]!.value.pages_id)}.img`);
  let offset = 0;
  for (const { value: e } of img.entries.slice(1)) {
    const len = Number(e.nr_pages) * pageSize;
    if ((Number(e.flags) & PE_PRESENT) === 0) continue;
    if (inArea(BigInt(e.vaddr as bigint))) {
      e.flags = PE_PARENT | (Number(e.flags) & PE_LAZY);
      const b = readFileSync(pagesFile);
      writeFileSync(pagesFile, Buffer.concat([b.subarray(0, offset), b.subarray(offset + len)]));
      writeFileSync(file, encodeImage(img));
      resealImages(dir);
      return;
    }
    offset += len;
  }
  throw new Error(`${file} has no run of the area with its own bytes`);
}

const fdsOf = (pid: number) => readdirSync(`/proc/${pid}/fd`).map((fd) => `${fd} ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`).sort().join('\n');
const mapsOf = (pid: number) => readFileSync(`/proc/${pid}/maps`, 'utf8');
const tracked = (pid: number) => /^VmFlags:.* uw/m.test(readFileSync(`/proc/${pid}/smaps`, 'utf8'));
/** Whether every present page of the area has lost its uffd-wp bit (PAGE_IS_WRITTEN: not write-protected). */
function unprotected(pid: number, area: bigint): boolean {
  const fd = openSync(`/proc/${pid}/pagemap`, 'r');
  try {
    const r = pagemapScan(fd, { start: area, end: area + AREA_BYTES, categoryAnyofMask: PAGE_IS_PRESENT, returnMask: PAGE_IS_PRESENT | PAGE_IS_WRITTEN });
    return r.regions.length > 0 && r.regions.every((g) => (g.categories & PAGE_IS_WRITTEN) !== 0);
  } finally {
    closeSync(fd);
  }
}
function waitUntil(what: string, ok: () => boolean): void {
  const deadline = Date.now() + 30_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    sleepSync(20);
  }
}

/** uffd-wp: the mappings are registered; abandoned (holder killed, images removed), the kernel removes every protection. */
async function uffdAbandoned(pid: number, area: bigint, dir: (n: string) => string): Promise<void> {
  assert.ok(tracked(pid), 'its mappings are registered for write tracking');
  assert.ok(!unprotected(pid, area), 'pages are write-protected for tracking');
  // The holder killed (the chain is abandoned): the kernel removes the tracking.
  const holder = holderOf(path.join(dir('pre1'), 'cryo-track.json'));
  kill(holder!, 9);
  assert.ok(holderGone(holder));
  waitUntil('the tracking is gone', () => !tracked(pid));
  assert.ok(unprotected(pid, area), 'no page stays write-protected');
  await assert.rejects(dumpTask({ pid, dir: dir('next'), preDump: true, prevImagesDir: '../pre1' }), /the memory tracking of .*pre1 ended \(its holder, PID \d+, is gone\): pre-dump again/);
  assert.ok(!existsSync(dir('next')) || !existsSync(path.join(dir('next'), 'cryo-track.json')));

  // A pre-dump whose state file is gone (its images removed, or cryo killed while a later dump
  // took it over): the holder ends by itself, and so does the tracking.
  await dumpTask({ pid, dir: dir('gone'), preDump: true });
  const orphan = holderOf(path.join(dir('gone'), 'cryo-track.json'));
  rmSync(dir('gone'), { recursive: true });
  assert.ok(holderGone(orphan), 'the holder of removed images ends');
  waitUntil('the tracking is gone', () => !tracked(pid));
  assert.ok(unprotected(pid, area));
}

/**
 * Soft-dirty: the pre-dump cleared the area's bits (only pages written since show them); nothing
 * is held for it. Another chain's pre-dump clears them again, so a dump against the first one would
 * miss what was written before that: refused.
 */
async function softDirtyAbandoned(pid: number, area: bigint, dir: (n: string) => string): Promise<void> {
  assert.equal(holderOf(path.join(dir('pre1'), 'cryo-track.json')), undefined, 'no holder process');
  const dirty = readPageRuns(pid, area, area + AREA_BYTES, { pageSize }).filter((r) => r.softDirty).reduce((n, r) => n + r.pages, 0);
  assert.ok(dirty < Number(AREA_BYTES) / pageSize / 2, `the pre-dump cleared the soft-dirty bits (${dirty} pages of the area written since)`);
  await dumpTask({ pid, dir: dir('other'), preDump: true });
  await assert.rejects(dumpTask({ pid, dir: dir('next'), preDump: true, prevImagesDir: '../pre1' }), /the soft-dirty bits of task \d+ were cleared since .*pre1 \(by a later pre-dump/);
  assert.ok(existsSync(path.join(dir('pre1'), 'cryo-track.json')), 'the refused dump left the parent as it was');
}

test('the tracking leaves the task as it was: its descriptors and mappings while tracked, and nothing once the chain ends, its images are removed or its holder is killed', async () => {
  becomeSubreaper();
  if (trackMethod(pageSize) === undefined) return; // no tracking to leave: refused, as the first test shows
  const t = startTarget('rt-incr');
  try {
    const pid = t.pid;
    const area = BigInt(`0x${/area=([0-9a-f]+)/.exec(readFileSync(t.outFile, 'utf8'))![1]!}`);
    const dir = (n: string) => path.join(t.dir, n);
    const fds0 = fdsOf(pid);
    const maps0 = mapsOf(pid);
    assert.ok(!tracked(pid));

    await dumpTask({ pid, dir: dir('pre1'), preDump: true });
    assert.equal(fdsOf(pid), fds0, 'no descriptor of the task changed');
    assert.equal(mapsOf(pid), maps0, 'no mapping of the task changed');
    const uffd = stateOf(path.join(dir('pre1'), 'cryo-track.json')).method === 'uffd-wp';
    if (uffd) await uffdAbandoned(pid, area, dir);
    else await softDirtyAbandoned(pid, area, dir);

    // A new chain, ended by a dump that leaves the task running without --track-mem.
    await dumpTask({ pid, dir: dir('pre2'), preDump: true });
    const holder2 = holderOf(path.join(dir('pre2'), 'cryo-track.json'));
    await dumpTask({ pid, dir: dir('last'), prevImagesDir: '../pre2', leaveRunning: true });
    assert.ok(holderGone(holder2), 'the dump without --track-mem ended the chain');
    if (uffd) {
      waitUntil('the tracking is gone', () => !tracked(pid));
      assert.ok(unprotected(pid, area));
    }
    assert.ok(!existsSync(path.join(dir('last'), 'cryo-track.json')), 'the chain ended');
    assert.equal(fdsOf(pid), fds0);
    assert.equal(mapsOf(pid), maps0);
    // A second dump against the same parent is refused: pre2's tracking was used.
    await assert.rejects(dumpTask({ pid, dir: dir('again'), prevImagesDir: '../pre2', leaveRunning: true }), /has no memory tracking to continue/);
    assert.equal(t.finish(), 'PASS', 'the task ran on unharmed and its memory is its own');
  } finally {
    try { kill(t.pid, 9); } catch { /* gone */ }
    waitGone(t.pid);
    rmSync(t.dir, { recursive: true, force: true });
  }
});

test('pages dropped (MADV_DONTNEED) and read back as the zero page after a pre-dump: the dump has them as zeros, not the parent\'s bytes', async () => {
  becomeSubreaper();
  const t = startTarget('rt-incr-zero');
  try {
    const pid = t.pid;
    const readyLine = readFileSync(t.outFile, 'utf8').split('\n')[0]!;
    const area = BigInt(`0x${/area=([0-9a-f]+)/.exec(readyLine)![1]!}`);
    const inArea = (v: bigint) => v >= area && v < area + 16n * BigInt(pageSize);
    const chain = path.join(t.dir, 'chain');
    mkdirSync(chain, { mode: 0o700 });
    if (trackMethod(pageSize) === undefined) return; // refused, as the first test shows
    await dumpTask({ pid, dir: path.join(chain, 'pre1'), preDump: true });
    kill(pid, constants.signals.SIGUSR1);
    waitUntil('the program dropped its pages', () => readFileSync(t.outFile, 'utf8').includes('DROPPED'));
    const holder = holderOf(path.join(chain, 'pre1', 'cryo-track.json'));
    await dumpTask({ pid, dir: path.join(chain, 'final'), prevImagesDir: '../pre1' });
    try { waitpid(pid, __WALL); } catch { /* reaped by dump() */ }
    assert.ok(waitGone(pid));
    // Through the CLI the chain's holder (uffd-wp) outlives cryo and ends as this subreaper's child.
    assert.ok(holderGone(holder), 'the holder ends with the chain');
    const restoreChain = async (edit?: (root: string) => void): Promise<string> => {
      const root = mkdtempSync(path.join(t.dir, 'restore-'));
      cpSync(chain, root, { recursive: true, verbatimSymlinks: true });
      edit?.(root);
      return restoreChainAndFinish(t, pid, readyLine, root);
    };
    assert.equal(await restoreChain(), 'PASS');
    // The zero pages left to the parent instead (as a tracking that missed them would): the program finds the old bytes.
    assert.match(await restoreChain((root) => loseWrittenRun(path.join(root, 'final'), pid, inArea)), /^FAIL: page 0 byte 0 is 0x5a, want 0x00/);
  } finally {
    try { kill(t.pid, 9); } catch { /* gone */ }
    waitGone(t.pid);
    rmSync(t.dir, { recursive: true, force: true });
  }
});
