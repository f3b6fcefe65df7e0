// What the host CPU offers, for tests whose checks depend on it: a test that checks less on this
// CPU reports that part as a skip with the reason, so the run never looks like a full pass.
import { readFileSync } from 'node:fs';

function cpuFlags(): Set<string> {
  const m = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return new Set((m?.[1] ?? '').trim().split(/\s+/));
}

/** False when the CPU (and kernel) offer AVX-512F and BW, else why the AVX-512 checks are skipped. */
export function avx512Skip(): string | false {
  if (process.arch !== 'x64') return `AVX-512 is x86_64's (${process.arch} here)`;
  const f = cpuFlags();
  return f.has('avx512f') && f.has('avx512bw') ? false : 'this CPU has no AVX-512 (F and BW): zmm0-31 upper halves, zmm16-31 and k0-7 are not checked';
}
