// Restore's page fill by several threads of cryo (src/restore/fill-parallel.ts, native/cryo_fill.c):
// test/programs/rt-fill.c holds up to 192 MiB of distinct words in private mappings (one made
// read-only, one with untouched pages and a read-only half) and a MAP_SHARED anonymous one (its
// last quarter read-only), and checks every word and protection on SIGTERM. Restored with
// CRYO_FILL_THREADS=2, 3 and 1 (cryo's threads at any size) and 0 (the task's own preadv);
// edited pages images show the check notices a wrong word in either path.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { totalmem } from 'node:os';
import { statSync, truncateSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { cleanupDumped, restoreAndFinish, restoreRefused, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { dumpedRuns, flipDumpedByte, PAGE_SIZE } from '../helpers/dumped-memory.js';
import { fillThreads } from '../../src/restore/fill-parallel.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

/** Smaller where memory is (the architecture guests). */
const MIB = Math.max(16, Math.min(192, Math.floor(totalmem() / 2 ** 20 / 16)));

async function withThreads<T>(n: string, f: () => Promise<T>): Promise<T> {
  const before = process.env.CRYO_FILL_THREADS;
  process.env.CRYO_FILL_THREADS = n;
  try {
    return await f();
  } finally {
    if (before === undefined) delete process.env.CRYO_FILL_THREADS; else process.env.CRYO_FILL_THREADS = before;
  }
}

test('fillThreads: CRYO_FILL_THREADS (else an error), else the CPUs for large restores and the preadv (0) for small ones', () => {
  assert.equal(fillThreads(4096, { CRYO_FILL_THREADS: '2' }), 2);
  assert.equal(fillThreads(1 << 30, { CRYO_FILL_THREADS: '0' }), 0);
  assert.equal(fillThreads(4096, {}), 0);
  assert.ok(fillThreads(1 << 30, {}) >= 1);
  assert.throws(() => fillThreads(1 << 30, { CRYO_FILL_THREADS: 'x' }), /CRYO_FILL_THREADS=x is not a number of threads/);
  assert.throws(() => fillThreads(4096, { CRYO_FILL_THREADS: '-1' }), /not a number of threads/);
});

test(`a ${MIB} MiB memory of distinct words, read-only and shared parts, filled by 2, 3 and 1 threads and by the task's preadv`, async () => {
  const d = await startAndDump('rt-fill', ['-', String(MIB)]);
  all.push(d);
  const r = d.target.ready;
  const ro = BigInt(r.ro!);
  const holey = BigInt(r.holey!);
  const unit = BigInt(r.bytes!) / 8n;
  const page = BigInt(PAGE_SIZE);
  // Each page once: the holey mapping's thousands of runs take several PAGEMAP_SCAN calls.
  const runs = dumpedRuns(d.images, d.pid);
  runs.forEach((x, i) => i && assert.ok(x.vaddr >= runs[i - 1]!.vaddr + BigInt(runs[i - 1]!.pages) * page,
    `page run 0x${x.vaddr.toString(16)} overlaps the one before it`));
  assert.equal(await withThreads('2', () => restoreAndFinish(d)), 'PASS');
  assert.equal(await withThreads('3', () => restoreAndFinish(d)), 'PASS');
  assert.equal(await withThreads('1', () => restoreAndFinish(d)), 'PASS');
  assert.equal(await withThreads('0', () => restoreAndFinish(d)), 'PASS');
  // A changed word is found, by either path: in the read-only mapping, in the read-only half past the holes.
  assert.match(await withThreads('2', () => restoreAndFinish(d, (dir) => flipDumpedByte(dir, d.pid, ro + 3n * page + 17n))),
    /^FAIL: ro word 2 of page 3 /);
  const lastPage = (unit * 2n) / page - 1n; // page 3k+2: written
  assert.match(await withThreads('2', () => restoreAndFinish(d, (dir) => flipDumpedByte(dir, d.pid, holey + lastPage * page + 8n))),
    new RegExp(`^FAIL: holey word 1 of page ${lastPage} `));
  assert.match(await withThreads('0', () => restoreAndFinish(d, (dir) => flipDumpedByte(dir, d.pid, ro + 8n))), /^FAIL: ro word 1 of page 0 /);
  // A pages image cut short: refused (before anything is irreversible) or failed, nothing left behind either way.
  const cut = (dir: string) => {
    const pages = readdirSync(dir).filter((f) => /^pages-\d+\.img$/.test(f)).map((f) => path.join(dir, f))
      .sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
    truncateSync(pages, statSync(pages).size - 3 * PAGE_SIZE);
  };
  assert.match(await withThreads('2', () => restoreRefused(d, cut)), /ends early|pages/);
});
