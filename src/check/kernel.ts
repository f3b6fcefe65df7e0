// Probes on the kernel's interfaces for restore: PR_SET_MM_MAP, time namespaces, the vDSO layout.
import { existsSync } from 'node:fs';
import { release as kernelRelease } from 'node:os';
import { readMaps } from '../proc/index.js';
import { prctl, readU32 } from '../sys/index.js';
import { missing, ok, probe } from './result.js';
import type { CheckResult } from './types.js';

export function kernelLine(): CheckResult {
  return ok('kernel', true, `Linux ${kernelRelease()}`);
}

const PR_SET_MM = 35;
const PR_SET_MM_MAP_SIZE = 15;

export function prctlMmMapProbe(): CheckResult {
  return probe('prctl PR_SET_MM_MAP', true,
    'restore cannot set a task\'s brk, stack, arguments, environment, auxv and exe link', () => {
      const size = Buffer.alloc(4);
      prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, size);
      return `struct prctl_mm_map of ${readU32(size, 0)} bytes`;
    });
}

export function timensProbe(): CheckResult {
  return existsSync('/proc/self/timens_offsets')
    ? ok('time namespaces', false)
    : missing('time namespaces', false,
      'restored tasks see this machine\'s CLOCK_MONOTONIC and CLOCK_BOOTTIME, which can jump from the dumped ones');
}

const sizeText = (bytes: bigint) => (bytes % 1024n === 0n ? `${bytes / 1024n} KiB` : `${bytes} bytes`);

/** Which of the architecture's vDSO areas this kernel maps, and how big: restore maps them where the task had them. */
export function vdsoProbe(areas: readonly string[], vdso: string): CheckResult {
  const found = readMaps('self').filter((v) => areas.includes(v.name));
  if (!found.some((v) => v.name === vdso)) {
    return missing('vdso', false, `this kernel maps no ${vdso} (booted with vdso=0?): tasks dumped with one cannot be restored here`);
  }
  return ok('vdso', false, found.map((v) => `${v.name} ${sizeText(v.end - v.start)}`).join(', '));
}
