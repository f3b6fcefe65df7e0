// Memory comes back exactly as it was: test/programs/rt-mem.c (heap, brk, stack, anonymous and
// file mappings, mixed protections with PROT_NONE, THP, a 1 TiB PROT_NONE reservation, auxv/exe/cmdline/environ, the vDSO) is
// dumped, restored and checks itself on SIGTERM. Edited images prove the checks notice.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PageReader } from '../../src/images/index.js';
import { editImage } from '../helpers/restore-env.js';
import { dumpedByteAt, flipDumpedByte, PAGE_SIZE } from '../helpers/dumped-memory.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import type { MessageValue } from '../../src/images/value.js';

const PAGE = BigInt(PAGE_SIZE);
const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const pageOffset = dumpedByteAt;
const flipByte = (dir: string, pid: number, vaddr: bigint) => flipDumpedByte(dir, pid, vaddr);

test('memory: heap, brk, stack, anonymous/file mappings, protections, THP, a 1 TiB reservation, auxv, exe, vDSO', async () => {
  const d = await startAndDump('rt-mem');
  all.push(d);
  const r = d.target.ready;
  // Only present pages are saved: the page the program never touched has no pagemap entry.
  assert.equal(pageOffset(d.images, d.pid, BigInt(r.untouched!)), undefined, 'the untouched page is not in the pagemap');
  assert.ok(pageOffset(d.images, d.pid, BigInt(r.anon!)), 'a touched page is');
  assert.equal(await restoreAndFinish(d), 'PASS');

  // A changed byte in each kind of private memory is found.
  const anonPage = BigInt(r.anon!) + 3n * PAGE + 10n;
  assert.match(await restoreAndFinish(d, (dir) => flipByte(dir, d.pid, anonPage)), /^FAIL: anon byte 10 of page 3/);
  assert.match(await restoreAndFinish(d, (dir) => flipByte(dir, d.pid, BigInt(r.stackbuf!) + 5000n)), /^FAIL: stack byte 5000/);
  assert.match(await restoreAndFinish(d, (dir) => flipByte(dir, d.pid, BigInt(r.heap!) + 7n)), /^FAIL: heap byte 7/);
  // The written page right above the vdso (x86_64: ld.so's ELF header; arm64 has ld.so's relro data
  // there, which the program relies on anyway; where it is free, as on ppc64, a private page of a file
  // the program maps there) is in one run of the pagemap with the vdso's own pages,
  // which restore leaves alone: the page is written back all the same.
  if (r.abovevdso !== '(nil)') {
    const above = BigInt(r.abovevdso!);
    const reader = new PageReader(path.join(d.images, `pagemap-${d.pid}.img`), undefined, Number(PAGE));
    try {
      assert.ok([...reader].some((run) => run.vaddr < above && above < run.vaddr + BigInt(run.nrPages) * PAGE), 'one run holds the vdso\'s last page and the page above');
    } finally {
      reader.close();
    }
    assert.match(await restoreAndFinish(d, (dir) => flipByte(dir, d.pid, above + 12n)), /^FAIL: byte 12 of the page above the vdso is 0x5a/);
  }
  // A changed protection and a changed auxv are found too.
  const mm = `mm-${d.pid}.img`;
  // The PROT_NONE page made readable and writable: the program sees its maps line change.
  const none = BigInt(r.none!);
  const prot = await restoreAndFinish(d, (dir) => editImage(dir, mm, (e) => {
    (e[0]!.vmas as MessageValue[]).find((x) => x.start === none)!.prot = 3n;
  }));
  assert.match(prot, new RegExp(`^FAIL: maps differ: ${none.toString(16)}-[0-9a-f]+ ---p .* \\| now ${none.toString(16)}-[0-9a-f]+ rw-p`));
  // The reservation has no page: restore maps it PROT_NONE at once. Made writable in the image, it
  // is mapped writable and charged to the commit limit, which refuses 1 TiB (heuristic overcommit).
  if (readFileSync('/proc/sys/vm/overcommit_memory', 'utf8').trim() === '0') {
    const resv = BigInt(r.resv!);
    await assert.rejects(restoreAndFinish(d, (dir) => editImage(dir, mm, (e) => {
      (e[0]!.vmas as MessageValue[]).find((x) => x.start === resv)!.prot = 3n;
    })), /ENOMEM from mmap\(/); // s390x's mmap takes its arguments in memory: only its address shows
  }
  const auxv = await restoreAndFinish(d, (dir) => editImage(dir, mm, (e) => {
    const a = e[0]!.mm_saved_auxv as bigint[];
    const i = a.findIndex((x, k) => k % 2 === 0 && x === 6n); // AT_PAGESZ
    a[i + 1] = 8192n;
  }));
  assert.match(auxv, /^FAIL: \/proc\/self\/auxv differs/);
});

// test/programs/rt-droppable.c (zdtm's maps11): MAP_DROPPABLE memory, whose pages the kernel may
// drop at any time, is dumped without them (it comes back empty, as CRIU 4.2 restores it), and
// keeps being droppable; MADV_WIPEONFORK memory keeps its pages and its mark.
test('memory: MAP_DROPPABLE without its pages, MADV_WIPEONFORK with its mark', async () => {
  const d = await startAndDump('rt-droppable');
  all.push(d);
  const r = d.target.ready;
  assert.equal(pageOffset(d.images, d.pid, BigInt(r.drop!)), undefined, 'the droppable page is not saved');
  assert.ok(pageOffset(d.images, d.pid, BigInt(r.wipe!)), 'the wipe-on-fork page is');
  assert.equal(await restoreAndFinish(d), 'PASS');

  const vma = (e: MessageValue[], at: string) => (e[0]!.vmas as MessageValue[]).find((v) => BigInt(v.start as bigint) === BigInt(at))!;
  const MAP_DROPPABLE = 0x08;
  const MADV_WIPEONFORK = 18n;
  assert.match(await restoreAndFinish(d, (dir) => flipByte(dir, d.pid, BigInt(r.wipe!) + 3n)), /^FAIL: the wipe-on-fork region holds /);
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, `mm-${d.pid}.img`, (e) => {
    const v = vma(e, r.drop!);
    v.flags = (Number(v.flags) & ~MAP_DROPPABLE) | 0x2;
  })), /^FAIL: the droppable region is not droppable:/);
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, `mm-${d.pid}.img`, (e) => {
    const v = vma(e, r.wipe!);
    v.madv = BigInt(v.madv as bigint) & ~(1n << MADV_WIPEONFORK);
  })), /^FAIL: the wipe-on-fork region is not wipe-on-fork:/);
});
