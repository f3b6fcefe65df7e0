// What the host CPU offers, for tests whose checks depend on it: a test that checks less on this
// CPU reports that part as a skip with the reason, so the run never looks like a full pass.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { hostCpuid } from '../../src/sys/index.js';
import { AT, auxvValue, readAuxv } from '../../src/proc/auxv.js';
import { fixturesDir } from './paths.js';

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

/**
 * False when this CPU can hold the register state of every thread of the shared CRIU fixture
 * `name` (their xstate_bv within this CPU's XCR0), else why restoring it is skipped: restore
 * refuses such images before it starts anything (restore-refusals tests that refusal itself).
 */
export function fixtureCpuSkip(name: string): string | false {
  const cpu = hostCpuid();
  if (!cpu) return `the CRIU fixtures are x86_64 dumps (${process.arch} here)`;
  const xcr0 = cpu.xgetbv(0);
  const dir = path.join(fixturesDir, name);
  let need = 0n;
  for (const f of readdirSync(dir).filter((x) => /^core-\d+\.img$/.test(x))) {
    const ti = decodeImageFile(path.join(dir, f)).entries[0]!.value.thread_info as MessageValue | undefined;
    const xsave = (ti?.fpregs as MessageValue | undefined)?.xsave as MessageValue | undefined;
    need |= BigInt((xsave?.xstate_bv as bigint | undefined) ?? 0n);
  }
  const missing = need & ~xcr0 & 0x2ffn;
  return missing === 0n ? false : `the CRIU fixture ${name} was dumped on a CPU with xsave features 0x${missing.toString(16)} (AVX-512: 0xe0) that this CPU lacks; restore refuses it before starting anything`;
}

/** False when this CPU's AT_HWCAP (`word` 1) or AT_HWCAP2 (2) has every bit of `bits`, else `why`. */
export function hwcapSkip(word: 1 | 2, bits: bigint, why: string): string | false {
  try {
    const v = auxvValue(readAuxv('self'), (word === 1 ? AT.AT_HWCAP : AT.AT_HWCAP2)!) ?? 0n;
    return (v & bits) === bits ? false : why;
  } catch {
    return why;
  }
}
