// aarch64 SME refused on a CPU without it (scripts/test-arch.mjs aarch64 --cross
// bpo:bpo+nosme:rt-aarch64-cross-sme; trixie-backports' 6.18 is Debian's first arm64 kernel with SME):
// dumped on -cpu max, a thread spinning in streaming mode with ZA on, and one with only TPIDR2_EL0 set;
// refused on the same machine with sme=off. See test/helpers/cpu-cross.ts.
import { cpuCrossTests } from '../helpers/cpu-cross.js';

cpuCrossTests('aarch64 SME', [
  {
    name: 'rt-aarch64-sme', args: ['32'],
    words: /the task ran on a CPU with SME \(HWCAP2_SME\), [^;]* and [^;]*, which this CPU lacks: restore it on a CPU that has them/,
    state: /the task's (TPIDR2_EL0|SME state \(streaming vector length, streaming mode, ZA\)) need SME \(HWCAP2_SME\), which this CPU lacks/,
  },
  {
    name: 'rt-aarch64-tpidr2', args: [],
    words: /the task ran on a CPU with SME \(HWCAP2_SME\), [^;]* and [^;]*, which this CPU lacks: restore it on a CPU that has them/,
    state: /the task's TPIDR2_EL0 need SME \(HWCAP2_SME\), which this CPU lacks/,
  },
]);
