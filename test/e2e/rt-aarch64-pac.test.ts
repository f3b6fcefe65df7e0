// aarch64 pointer authentication (runs in the arm64 guest, npm run test:arch -- aarch64): a process
// signs a pointer with each of its own keys (the kernel picks new ones at every exec, so the restore
// stub's differ) and after restore signs it again and authenticates the old codes. The keys travel in
// CRIU's pac_keys fields; edited keys in the image prove the program notices.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { onlyOn } from '../helpers/arch-only.js';
import { hwcapSkip } from '../helpers/cpu.js';

const HWCAP_PAC = (1n << 30n) | (1n << 31n);
const skip = onlyOn(['arm64'], 'aarch64 pointer authentication') || hwcapSkip(1, HWCAP_PAC, 'this CPU has no pointer authentication (AT_HWCAP)');
let d: Dumped | undefined;
after(() => cleanupDumped(d));

const keys = (e: MessageValue[]) => (e[0]!.ti_aarch64 as MessageValue).pac_keys as MessageValue;

test('PAC: pointers signed with the process\'s own IA, IB, DA, DB and GA keys before the dump authenticate after it', { skip }, async () => {
  d = await startAndDump('rt-aarch64-pac');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const pid = d.pid;
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, `core-${pid}.img`, (e) => {
    const a = keys(e).pac_address_keys as MessageValue;
    a.apiakey_lo = BigInt(a.apiakey_lo as bigint) ^ 1n;
  })), /^FAIL: the IA key signs 0x[0-9a-f]+ as 0x[0-9a-f]+, before the dump 0x/);
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, `core-${pid}.img`, (e) => {
    const g = keys(e).pac_generic_keys as MessageValue;
    g.apgakey_hi = BigInt(g.apgakey_hi as bigint) ^ 0x100n;
  })), /^FAIL: the GA key signs/);
});
