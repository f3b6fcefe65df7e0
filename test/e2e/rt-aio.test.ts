// libaio contexts, as zdtm's aio00/aio01 check them: test/programs/rt-aio.c has a ring whose tail
// wrapped below its head with five events not yet reaped, and an unused one. Each comes back at
// its address (the context id) with the same slots, head, tail and pending events, and takes new
// requests. An edited event in the pages image fails the check; a ring the mm image gives another
// length is refused before anything runs.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { editImage } from '../helpers/restore-env.js';
import { flipDumpedByte, readDumped } from '../helpers/dumped-memory.js';
import { cleanupDumped, restoreAndFinish, restoreRefused, startAndDump, type Dumped } from '../helpers/round-trip.js';
import type { MessageValue } from '../../src/images/value.js';
import { VMA } from '../../src/shared/vma-kinds.js';
import { decodeImageFile } from '../../src/images/index.js';
import { readU32 } from '../../src/sys/native-endian.js';
import path from 'node:path';

let d: Dumped;
after(() => cleanupDumped(d));

const ready = () => ({ w: BigInt(d.target.ready.w!), e: BigInt(d.target.ready.e!), head: Number(d.target.ready.head), tail: Number(d.target.ready.tail), nr: Number(d.target.ready.nr) });

test('two AIO rings, one wrapped with events pending: dumped whole, restored with their state', async () => {
  d = await startAndDump('rt-aio');
  const { w, e, head, tail, nr } = ready();
  const mm = decodeImageFile(path.join(d.images, `mm-${d.pid}.img`)).entries[0]!.value;
  const aios = mm.aios as MessageValue[];
  assert.deepEqual(aios.map((a) => BigInt(a.id as bigint)).sort(), [w, e].sort());
  const vw = (mm.vmas as MessageValue[]).find((v) => BigInt(v.start as bigint) === w)!;
  assert.equal(Number(vw.status), VMA.AIORING);
  // The ring's header as the pages image holds it: slots, head and tail.
  const hdr = readDumped(d.images, d.pid, w, 16);
  assert.deepEqual([readU32(hdr, 4), readU32(hdr, 8), readU32(hdr, 12)], [nr, head, tail]);
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited image: a pending event with other data fails the check', async () => {
  const { w, head } = ready();
  const out = await restoreAndFinish(d, (dir) => flipDumpedByte(dir, d.pid, w + 32n + BigInt(head) * 32n, 0x01));
  assert.match(out, /^FAIL: ring w: event 0 has data 0x5a01/);
});

test('edited image: a ring given another length is refused before anything runs', async () => {
  const { w } = ready();
  const err = await restoreRefused(d, (dir) => editImage(dir, `mm-${d.pid}.img`, ([mm]) => {
    const a = (mm!.aios as MessageValue[]).find((x) => BigInt(x.id as bigint) === w)!;
    a.ring_len = Number(a.ring_len) * 2;
  }));
  assert.match(err, /the AIO ring at 0x[0-9a-f]+ \(\d+ bytes, \d+ requests\) has no AIO mapping of that size/);
});
