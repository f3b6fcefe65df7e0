/**
 * src/check: what this kernel, CPU and process offer cryo, one fact per line (like `criu check`).
 * Each probe tries the real thing (a throw-away child for ptrace, clone3 with set_tid, ...) and
 * reports ok or missing with what that means; `required` marks what dump/restore cannot do without.
 */
import { cpuLines, hostArchOrError } from './cpu.js';
import { capabilityProbe } from './caps.js';
import { kernelLine, prctlMmMapProbe, timensProbe, vdsoProbe } from './kernel.js';
import { memfdProbe, pagemapProbe, pagemapScanProbe, softDirtyProbe, userfaultfdProbe, writeTrackingProbe } from './memory.js';
import { cloneSetTidProbe, taskProbes } from './tasks.js';
import type { CheckResult } from './types.js';

export type { CheckResult } from './types.js';
export { exitStatus, formatReport, formatResult, missingRequired, summaryLine } from './format.js';

const FALLBACK_PAGE_SIZE = 4096;

/** Runs every probe, in the order `cryo check` prints them. */
export async function check(): Promise<CheckResult[]> {
  const arch = await hostArchOrError();
  const pageSize = arch instanceof Error ? FALLBACK_PAGE_SIZE : arch.pageSize;
  const vdso = arch instanceof Error ? { areas: ['[vdso]', '[vvar]'], vdso: '[vdso]' } : arch.vdso;
  return [
    kernelLine(),
    ...taskProbes(),
    cloneSetTidProbe(),
    pagemapProbe(pageSize),
    pagemapScanProbe(pageSize),
    softDirtyProbe(pageSize),
    userfaultfdProbe(),
    writeTrackingProbe(pageSize),
    memfdProbe(),
    prctlMmMapProbe(),
    timensProbe(),
    vdsoProbe(vdso.areas, vdso.vdso),
    ...capabilityProbe(),
    ...cpuLines(arch),
  ];
}
