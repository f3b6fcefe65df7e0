// aarch64 TPIDR2_EL0 (SME) comes back (runs in the arm64 guest, npm run test:arch -- aarch64):
// test/programs/arm64/rt-aarch64-tpidr2.c sets it and checks it after restore. It travels in
// cryo-core-PID.img (CRIU has no field) and is set by ptrace in NT_ARM_TLS's second word; an edited
// value proves the program notices.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageValue } from '../../src/images/value.js';
import { readCryoCore, writeCryoCore } from '../../src/images/cryo-core.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { onlyOn } from '../helpers/arch-only.js';
import { hwcapSkip } from '../helpers/cpu.js';

const HWCAP2_SME = 1n << 23n;
const skip = onlyOn(['arm64'], 'aarch64 SME') || hwcapSkip(2, HWCAP2_SME, 'this CPU has no SME (AT_HWCAP2)');
let d: Dumped | undefined;
after(() => cleanupDumped(d));

test('SME: TPIDR2_EL0 comes back', { skip }, async () => {
  d = await startAndDump('rt-aarch64-tpidr2');
  const { pid, images } = d;
  const want = BigInt(/tpidr2=(0x[0-9a-f]+)/.exec(d.readyLine)![1]!);
  assert.equal(BigInt((readCryoCore(images, pid)?.ti_aarch64 as MessageValue).tpidr2 as bigint), want, 'cryo-core holds it');
  assert.equal(await restoreAndFinish(d), 'PASS');
  assert.match(await restoreAndFinish(d, (dir) => {
    const e = readCryoCore(dir, pid)!;
    (e.ti_aarch64 as MessageValue).tpidr2 = want ^ 0xff00n;
    writeCryoCore(dir, pid, e);
  }), /^FAIL: tpidr2_el0 = 0x5a5a123456785aa0, want 0x5a5a12345678a5a0/);
});
