// aarch64 memory tagging (runs in the arm64 guest booted with MTE, npm run test:arch -- aarch64):
// test/programs/arm64/rt-aarch64-mte.c turns on synchronous tag checks, tags two of four pages 3
// and 7 and every granule of a third with a tag of its own (1 to 15 in turn), and writes data through
// the tagged pointers; restored, a load through a wrong tag still
// faults with SEGV_MTESERR, every granule has its tag and its data, and the control word is back.
// The tags are in cryo-mtags-PID.img, the control word in cryo-core-PID.img (CRIU has fields for
// neither); edited copies prove each part is what the program checks.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { MessageValue } from '../../src/images/value.js';
import { readCryoCore, writeCryoCore } from '../../src/images/cryo-core.js';
import { cryoMtagsImage, readCryoMtags, writeCryoMtags } from '../../src/images/cryo-mtags.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { onlyOn } from '../helpers/arch-only.js';
import { hwcapSkip } from '../helpers/cpu.js';

const HWCAP2_MTE = 1n << 18n;
const skip = onlyOn(['arm64'], 'aarch64 MTE') || hwcapSkip(2, HWCAP2_MTE, 'this CPU has no MTE (AT_HWCAP2)');
let d: Dumped | undefined;
after(() => cleanupDumped(d));

test('MTE: allocation tags of PROT_MTE memory and the synchronous tag-check mode come back', { skip }, async () => {
  d = await startAndDump('rt-aarch64-mte');
  const { pid, images } = d;
  const ctrl = BigInt(/ctrl=(0x[0-9a-f]+)/.exec(d.readyLine)![1]!);
  const mem = BigInt(/mem=(0x[0-9a-f]+)/.exec(d.readyLine)![1]!);
  const ti = (readCryoCore(images, pid)?.ti_aarch64 ?? {}) as MessageValue;
  assert.equal(BigInt(ti.tagged_addr_ctrl as bigint), ctrl, 'cryo-core holds the tagged-address control word');
  const tags = readCryoMtags(images, pid)!;
  assert.deepEqual(tags.areas, [{ start: mem, end: mem + 4n * 4096n }], 'the four PROT_MTE pages are one tagged area');
  assert.equal(tags.runs.length, 1, 'the three tagged pages are one run, the untagged page none');
  assert.equal(tags.runs[0]!.addr, mem);
  const perGranule = Array.from({ length: 256 }, (_, g) => 1 + (g % 15));
  assert.deepEqual([...tags.runs[0]!.tags], [...Array(256).fill(3), ...Array(256).fill(7), ...perGranule], 'one tag byte per granule');
  assert.equal(await restoreAndFinish(d), 'PASS');

  assert.match(await restoreAndFinish(d, (dir) => {
    const t = readCryoMtags(dir, pid)!;
    t.runs[0]!.tags.fill(9, 256, 512);
    writeCryoMtags(dir, pid, t);
  }), /^FAIL: page 1 granule 0 tag = 9, want 7/);
  // One granule inside a page of many tags.
  assert.match(await restoreAndFinish(d, (dir) => {
    const t = readCryoMtags(dir, pid)!;
    t.runs[0]!.tags[512 + 40] = 2;
    writeCryoMtags(dir, pid, t);
  }), /^FAIL: page 2 granule 40 tag = 2, want 11/);
  // Without the tagged area the pages come back untagged: nothing is checked.
  assert.match(await restoreAndFinish(d, (dir) => rmSync(path.join(dir, cryoMtagsImage(pid)))), /^FAIL: a load through a wrong tag did not fault/);
  // Tag checks off (PR_MTE_TCF_NONE): the same.
  assert.match(await restoreAndFinish(d, (dir) => {
    const e = readCryoCore(dir, pid)!;
    (e.ti_aarch64 as MessageValue).tagged_addr_ctrl = ctrl & ~6n;
    writeCryoCore(dir, pid, e);
  }), /^FAIL: a load through a wrong tag did not fault/);
});
