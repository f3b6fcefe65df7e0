// aarch64 branch target identification (runs in the arm64 guest, npm run test:arch -- aarch64):
// test/programs/arm64/rt-aarch64-bti.c maps two executable pages with PROT_BTI, one function without a
// landing pad and one after `bti c`; restored, an indirect call into the first still faults with SIGILL
// and into the second returns. The kernel shows PROT_BTI only as the smaps VmFlag "bt": the dump keeps it
// in the VMA's prot in mm.img (CRIU's restorer maps with that prot too); an image without it proves the
// program notices an unguarded page.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageValue } from '../../src/images/value.js';
import { decodeImageFile } from '../../src/images/index.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { onlyOn } from '../helpers/arch-only.js';
import { hwcapSkip } from '../helpers/cpu.js';
import path from 'node:path';

const HWCAP2_BTI = 1n << 17n;
const PROT_BTI = 0x10;
const skip = onlyOn(['arm64'], 'aarch64 BTI') || hwcapSkip(2, HWCAP2_BTI, 'this CPU has no BTI (AT_HWCAP2)');
let d: Dumped | undefined;
after(() => cleanupDumped(d));

const vmaAt = (vmas: MessageValue[], addr: bigint) => vmas.find((v) => BigInt(v.start as bigint) === addr);

test('BTI: guarded pages stay guarded (a call without a landing pad faults, one with it returns)', { skip }, async () => {
  d = await startAndDump('rt-aarch64-bti');
  const { pid, images } = d;
  const bare = BigInt(/bare=(0x[0-9a-f]+)/.exec(d.readyLine)![1]!);
  const padded = BigInt(/padded=(0x[0-9a-f]+)/.exec(d.readyLine)![1]!);
  const vmas = (decodeImageFile(path.join(images, `mm-${pid}.img`)).entries[0]!.value.vmas ?? []) as MessageValue[];
  for (const a of [bare, padded]) assert.equal(Number(vmaAt(vmas, a)?.prot) & PROT_BTI, PROT_BTI, `mm.img keeps PROT_BTI of 0x${a.toString(16)}`);
  assert.equal(await restoreAndFinish(d), 'PASS');
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, `mm-${pid}.img`, (e) => {
    const v = vmaAt(e[0]!.vmas as MessageValue[], bare)!;
    v.prot = Number(v.prot) & ~PROT_BTI;
  })), /^FAIL: a call without a landing pad into a guarded page did not fault/);
});
