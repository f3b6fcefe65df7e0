/**
 * The STFLE facility numbers /proc/cpuinfo lists on s390x ("facilities : 0 1 2 ..."): the only
 * place a process learns of facilities without an AT_HWCAP bit (runtime instrumentation, 64).
 */
import { readFileSync } from 'node:fs';

/** The numbers of a /proc/cpuinfo "facilities" line, undefined without one. */
export function parseFacilities(cpuinfo: string): number[] | undefined {
  const m = /^facilities\s*:\s*([\d ]*)$/m.exec(cpuinfo);
  return m ? m[1]!.trim().split(/\s+/).filter(Boolean).map(Number) : undefined;
}

/** This machine's facilities, undefined where /proc/cpuinfo has no such line (every non-s390 CPU). */
export function hostFacilities(): number[] | undefined {
  try {
    return parseFacilities(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return undefined;
  }
}
