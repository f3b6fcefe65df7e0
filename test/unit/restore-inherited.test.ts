// Which of a child's mappings it keeps from its restored parent (src/restore/inherited.ts): private
// ones at the same place with the same flags, offset, file and advice; not shared memory, not
// another place, not after MADV_DONTFORK/MADV_WIPEONFORK, not under a guard region.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageValue } from '../../src/images/value.js';
import type { RestoreImages } from '../../src/shared/restore-images.js';
import type { Range } from '../../src/shared/ranges.js';
import { VMA } from '../../src/shared/vma-kinds.js';
import { inheritableVmas } from '../../src/restore/inherited.js';

const MAP_PRIVATE = 0x02;
const MAP_SHARED = 0x01;
const MAP_ANONYMOUS = 0x20;

function vma(start: number, extra: Partial<Record<string, unknown>> = {}): MessageValue {
  return {
    start: BigInt(start), end: BigInt(start + 0x4000), pgoff: 0n, shmid: 0n, prot: 3,
    flags: MAP_PRIVATE | MAP_ANONYMOUS, status: VMA.REGULAR | VMA.ANON_PRIVATE, ...extra,
  } as MessageValue;
}

const images = (vmas: MessageValue[], guards: Range[] = []) => ({ mm: { vmas }, guards }) as unknown as RestoreImages;
const starts = (vs: MessageValue[]) => vs.map((v) => Number(v.start));

test('a private mapping the parent had at the same place, alike, is kept', () => {
  const parent = images([vma(0x10000), vma(0x20000, { prot: 1 }), vma(0x30000, { status: VMA.REGULAR | VMA.FILE_PRIVATE, flags: MAP_PRIVATE, shmid: 7n, pgoff: 0x1000n })]);
  const child = images([vma(0x10000), vma(0x20000), vma(0x30000, { status: VMA.REGULAR | VMA.FILE_PRIVATE, flags: MAP_PRIVATE, shmid: 7n, pgoff: 0x1000n })]);
  // The protection may differ: the child's own is set after its pages are in.
  assert.deepEqual(starts(inheritableVmas(child, parent)), [0x10000, 0x20000, 0x30000]);
});

test('another range, flags, offset, file, advice or kind is not inherited', () => {
  const parent = images([
    vma(0x10000), vma(0x20000), vma(0x30000), vma(0x40000, { status: VMA.REGULAR | VMA.FILE_PRIVATE, flags: MAP_PRIVATE, shmid: 7n }),
    vma(0x50000), vma(0x60000, { status: VMA.REGULAR | VMA.ANON_SHARED, flags: MAP_SHARED | MAP_ANONYMOUS }),
    vma(0x70000, { pgoff: 0n }),
  ]);
  const child = images([
    vma(0x10000, { end: 0x12000n }),
    vma(0x20000, { flags: MAP_PRIVATE | MAP_ANONYMOUS | 0x100 }),
    vma(0x30000, { madv: 1n << 14n }),
    vma(0x40000, { status: VMA.REGULAR | VMA.FILE_PRIVATE, flags: MAP_PRIVATE, shmid: 8n }),
    vma(0x58000),
    vma(0x60000, { status: VMA.REGULAR | VMA.ANON_SHARED, flags: MAP_SHARED | MAP_ANONYMOUS }),
    vma(0x70000, { pgoff: 1n }),
  ]);
  assert.deepEqual(starts(inheritableVmas(child, parent)), []);
});

test('the parent\'s MADV_DONTFORK or MADV_WIPEONFORK, or a guard region in either, keep the child from inheriting', () => {
  const parent = images([vma(0x10000, { madv: 1n << 10n }), vma(0x20000, { madv: 1n << 18n }), vma(0x30000), vma(0x40000), vma(0x50000)], [{ start: 0x31000n, end: 0x32000n }]);
  const child = images([vma(0x10000, { madv: 1n << 10n }), vma(0x20000, { madv: 1n << 18n }), vma(0x30000), vma(0x40000), vma(0x50000)], [{ start: 0x40000n, end: 0x41000n }]);
  assert.deepEqual(starts(inheritableVmas(child, parent)), [0x50000]);
});
