// Guard regions (zdtm's maps12): test/programs/rt-guard.c installs MADV_GUARD_INSTALL guards in an
// anonymous and a private file mapping. The dump records them as CRIU 4.2 does (mm.img entries of
// status VMA_AREA_GUARD, no pages), restore installs them again; edited images prove the checks.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { VMA } from '../../src/shared/vma-kinds.js';
import { MADV_GUARD_INSTALL } from '../../src/arch/mman.js';
import { madviseKnows } from '../../src/sys/index.js';
import { editImage } from '../helpers/restore-env.js';
import { dumpedByteAt, flipDumpedByte, PAGE_SIZE } from '../helpers/dumped-memory.js';
import { cleanupDumped, restoreAndFinish, restoreRefused, startAndDump, type Dumped } from '../helpers/round-trip.js';

const PAGE = BigInt(PAGE_SIZE);
const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const skip = !madviseKnows(MADV_GUARD_INSTALL) && 'this kernel has no guard regions (Linux 6.13+)';
const isGuard = (v: MessageValue) => Number(v.status) === VMA.GUARD;
const guardEntries = (dir: string, pid: number) =>
  (decodeImageFile(path.join(dir, `mm-${pid}.img`)).entries[0]!.value.vmas as MessageValue[]).filter(isGuard);
const range = (start: bigint, pages = 1n) => ({ start, end: start + pages * PAGE });
const show = (rs: readonly Record<string, unknown>[]) => rs.map((r) => `${BigInt(r.start as bigint).toString(16)}-${BigInt(r.end as bigint).toString(16)}`).join(' ');

test('guard regions: recorded without pages, installed again, each one checked', { skip }, async () => {
  const d = await startAndDump('rt-guard');
  all.push(d);
  const anon = BigInt(d.target.ready.anon!);
  const file = BigInt(d.target.ready.file!);
  const want = [range(anon + PAGE), range(anon + 3n * PAGE), range(file), range(file + 2n * PAGE)].sort((a, b) => (a.start < b.start ? -1 : 1));
  assert.equal(show(guardEntries(d.images, d.pid)), show(want), 'mm.img lists the four guard pages, as CRIU 4.2 does');
  const vmas = decodeImageFile(path.join(d.images, `mm-${d.pid}.img`)).entries[0]!.value.vmas as MessageValue[];
  assert.ok(vmas.slice(vmas.findIndex(isGuard)).every(isGuard), 'the guard entries come after every mapping');
  for (const g of want) assert.equal(dumpedByteAt(d.images, d.pid, g.start), undefined, `no page is saved for the guard at 0x${g.start.toString(16)}`);
  assert.ok(dumpedByteAt(d.images, d.pid, anon + 2n * PAGE), 'the page between two guards is');
  assert.ok(readFileSync(d.target.outFile, 'utf8').startsWith('READY'));
  assert.equal(await restoreAndFinish(d), 'PASS');

  const edit = (fn: (vmas: MessageValue[]) => void) => (dir: string) => editImage(dir, `mm-${d.pid}.img`, (e) => fn(e[0]!.vmas as MessageValue[]));
  // A guard left out, one added over data, a changed byte beside a guard: each is noticed.
  assert.match(await restoreAndFinish(d, edit((v) => v.splice(v.findIndex((x) => isGuard(x) && BigInt(x.start as bigint) === anon + PAGE), 1))),
    /^FAIL: guard page 1 of the anonymous mapping does not fault/);
  assert.match(await restoreAndFinish(d, edit((v) => v.push({ ...v.find(isGuard)!, start: anon + 2n * PAGE, end: anon + 3n * PAGE }))),
    /^FAIL: page 2 of the anonymous mapping faults/);
  assert.match(await restoreAndFinish(d, (dir) => flipDumpedByte(dir, d.pid, file + PAGE + 9n)), /^FAIL: file page 1 byte 9 is /);
  // A guard where nothing is mapped is a damaged image, refused before anything starts.
  const refused = await restoreRefused(d, edit((v) => v.push({ ...v.find(isGuard)!, start: PAGE, end: 2n * PAGE })));
  assert.match(refused, new RegExp(`the guard region 0x${PAGE.toString(16)}-0x${(2n * PAGE).toString(16)} lies outside the mappings`));
});
