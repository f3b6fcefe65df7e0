// aarch64 CPU-feature refusal in a real restore (runs in the arm64 guest, npm run test:arch): the dump
// records this CPU's AT_HWCAP/AT_HWCAP2 in cryo-cpu.img; a copy edited to say the dumping CPU had a
// feature this one lacks is refused, naming the feature, and leaves no process behind (the check runs
// before restore makes any; the CLI's own processes make a count of new PIDs useless). The same dump
// unedited restores and passes, so the refusal comes from the edit alone.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { HWCAP_BITS } from '../../src/arch/aarch64/cpu.js';
import { readCryoCpu, writeCryoCpu } from '../../src/images/cryo-cpu.js';
import { AT, auxvValue, readAuxv } from '../../src/proc/auxv.js';
import { onlyOn } from '../helpers/arch-only.js';
import { cleanupDumped, restoreAndFinish, restoreRefused, startAndDump, type Dumped } from '../helpers/round-trip.js';

const skip = onlyOn(['arm64'], 'aarch64 AT_HWCAP bits (npm run test:arch -- aarch64 runs it in a guest)');
let d: Dumped | undefined;
after(() => cleanupDumped(d));

test('a dump from a CPU with a feature this one lacks is refused before anything starts, naming it', { skip }, async () => {
  const aux = readAuxv('self');
  const host = [auxvValue(aux, AT.AT_HWCAP!) ?? 0n, auxvValue(aux, AT.AT_HWCAP2!) ?? 0n];
  const absent = HWCAP_BITS.filter((b) => (host[b.word - 1]! & b.bit) === 0n);
  assert.ok(absent.length > 0, `this CPU has every feature cryo knows (AT_HWCAP ${host[0]!.toString(16)}, AT_HWCAP2 ${host[1]!.toString(16)})`);
  const lacking = absent[0]!;

  d = await startAndDump('rt-regs-aarch64', ['spin']);
  const words = (readCryoCpu(d.images)?.hwcap as bigint[] | undefined)?.map(BigInt);
  assert.deepEqual(words, host, 'cryo-cpu.img holds this CPU\'s AT_HWCAP and AT_HWCAP2');
  assert.equal(await restoreAndFinish(d), 'PASS');

  const err = await restoreRefused(d, (dir) => {
    const hw = [...host];
    hw[lacking.word - 1] = hw[lacking.word - 1]! | lacking.bit;
    writeCryoCpu(dir, { hwcap: hw });
  });
  assert.ok(err.includes(`the task ran on a CPU with ${lacking.feature} (${lacking.name}), which this CPU lacks`), err);
});
