// aarch64 BTI refused on a CPU without it (scripts/test-arch.mjs aarch64 --cross new:new+nobti:rt-aarch64-cross-bti):
// dumped on -cpu max, a task with two BTI-guarded pages; refused on -cpu neoverse-n1 (Armv8.2, no BTI),
// where mapping them would fail. See test/helpers/cpu-cross.ts.
import { cpuCrossTests } from '../helpers/cpu-cross.js';

cpuCrossTests('aarch64 BTI', [
  {
    name: 'rt-aarch64-bti', args: [],
    words: /the task ran on a CPU with [^;]*branch target identification \(BTI\) \(HWCAP2_BTI\)[^;]*, which this CPU lacks: restore it on a CPU that has them/,
    state: /the task's BTI-guarded pages \(at 0x[0-9a-f]+\) need branch target identification \(BTI\) \(HWCAP2_BTI\), which this CPU lacks/,
  },
]);
