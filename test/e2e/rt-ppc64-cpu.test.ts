// ppc64 CPU-feature refusal in a real restore (runs in the ppc64le guest, npm run test:arch): a dump whose
// cpuinfo.img is edited to say the dumping CPU had a feature this one lacks (an AT_HWCAP/AT_HWCAP2 bit
// this CPU's auxiliary vector does not have) is refused, naming the feature, and leaves no process
// behind; so is a dump said to come from a big-endian machine. The same dump unedited restores and
// passes, so the refusal comes from the edit alone.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageValue } from '../../src/images/value.js';
import { HWCAP_BITS } from '../../src/arch/ppc64/cpu.js';
import { AT, auxvValue, readAuxv } from '../../src/proc/auxv.js';
import { onlyOn } from '../helpers/arch-only.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, restoreRefused, startAndDump, type Dumped } from '../helpers/round-trip.js';

const skip = onlyOn(['ppc64'], 'ppc64 AT_HWCAP bits (npm run test:arch -- ppc64le runs it in a guest)');
let d: Dumped | undefined;
after(() => cleanupDumped(d));

test('a dump from a CPU with a feature this one lacks is refused before anything starts, naming it', { skip }, async () => {
  const aux = readAuxv('self');
  const host = [auxvValue(aux, AT.AT_HWCAP!) ?? 0n, auxvValue(aux, AT.AT_HWCAP2!) ?? 0n];
  const absent = HWCAP_BITS.filter((b) => (host[b.word - 1]! & BigInt(b.bit)) === 0n);
  assert.ok(absent.length > 0, `this CPU has every feature cryo checks (AT_HWCAP ${host[0]!.toString(16)}, AT_HWCAP2 ${host[1]!.toString(16)})`);
  const lacking = absent[absent.length - 1]!; // the newest: an HWCAP2 bit under qemu's POWER9

  d = await startAndDump('rt-ppc64-regs', ['spin']);
  assert.equal(await restoreAndFinish(d), 'PASS');

  const entry = (e: MessageValue[]) => (e[0]!.ppc64_entry as MessageValue[])[0]!;
  const err = await restoreRefused(d, (dir) => editImage(dir, 'cpuinfo.img', (e) => {
    const hw = (entry(e).hwcap as bigint[]).map(BigInt);
    hw[lacking.word - 1] = hw[lacking.word - 1]! | BigInt(lacking.bit);
    entry(e).hwcap = hw;
  }));
  assert.ok(err.includes(`the task ran on a CPU with ${lacking.feature} (${lacking.name}), which this CPU lacks`), err);

  const be = await restoreRefused(d, (dir) => editImage(dir, 'cpuinfo.img', (e) => { entry(e).endian = 'BIGENDIAN'; }));
  assert.match(be, /the dump was made on a big-endian ppc64 machine and this one is little-endian/);
});
