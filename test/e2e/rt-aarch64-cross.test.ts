// aarch64 CPU-feature refusals on a real smaller CPU (scripts/test-arch.mjs aarch64 --cross
// new:new+lean:rt-aarch64-cross): dumped on -M virt,mte=on -cpu max, a task with SVE registers at vector
// length 32, one with PAC keys of its own and one with MTE tags and tag checks on; refused on
// -M virt -cpu max,pauth=off,sve-max-vq=1 (no MTE, no PAC, 16-byte vectors). See test/helpers/cpu-cross.ts.
import { cpuCrossTests } from '../helpers/cpu-cross.js';

cpuCrossTests('aarch64 features', [
  {
    name: 'rt-aarch64-sve', args: ['32'],
    words: /the task uses an SVE vector length of 32 bytes, which this CPU lacks \(it offers 16 below that\)/,
    state: /the task uses an SVE vector length of 32 bytes, which this CPU lacks/,
  },
  {
    name: 'rt-aarch64-pac', args: [],
    words: /the task ran on a CPU with [^;]*address authentication \(PAC\) \(HWCAP_PACA\)[^;]*, which this CPU lacks: restore it on a CPU that has them/,
    state: /the task's pointer-authentication keys need address authentication \(PAC\) \(HWCAP_PACA\), which this CPU lacks/,
  },
  {
    name: 'rt-aarch64-mte', args: [],
    words: /the task ran on a CPU with [^;]*memory tagging \(MTE\) \(HWCAP2_MTE\)[^;]*, which this CPU lacks: restore it on a CPU that has them/,
    state: /the task's MTE tag checks \(PR_SET_TAGGED_ADDR_CTRL\) need memory tagging \(MTE\) \(HWCAP2_MTE\), which this CPU lacks/,
  },
]);
