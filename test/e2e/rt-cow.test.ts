// Copy-on-write sharing between a parent and its forked child: test/programs/rt-cow.c fills
// private memory (anonymous, and a private file mapping), forks, and each side writes or drops a
// page of its own. After the restore the pages neither touched after the fork must be the same
// physical page in both (pagemap frames), the others not, and each side's contents as they were.
// The child's mapping edited so that it no longer matches its parent's (restored as a copy, as
// before cryo kept inherited mappings) must FAIL, and so must a changed byte of the child's own page.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { flipDumpedByte, PAGE_SIZE } from '../helpers/dumped-memory.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

test('pages a parent shares copy-on-write with its child are shared again after restore', async () => {
  const d = await startAndDump('rt-cow');
  all.push(d);
  const child = Number(d.target.ready.child);
  const anon = BigInt(d.target.ready.anon!);
  assert.equal(await restoreAndFinish(d), 'PASS');

  // The child's anonymous mapping at another offset: not its parent's any more, so restored as a copy.
  const copied = await restoreAndFinish(d, (dir) => editImage(dir, `mm-${child}.img`, (e) => {
    const v = (e[0]!.vmas as MessageValue[]).find((x) => BigInt(x.start as bigint) === anon)!;
    v.pgoff = BigInt(v.pgoff as bigint) + 1n;
  }));
  assert.match(copied, /^FAIL: page 0 is not shared with the child .*copied/);

  // A page only the child wrote comes from its own image.
  const own = await restoreAndFinish(d, (dir) => flipDumpedByte(dir, child, anon + 5n * BigInt(PAGE_SIZE)));
  assert.match(own, /^FAIL: the child's memory is not what it was/);
});
