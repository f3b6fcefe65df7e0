// Picks the architecture cryo runs on, from a table keyed by Node's
// process.arch. Adding an architecture = a directory under src/arch/ and a
// row here and in host-abi.ts.

import type { Arch, ArchFactory, CpuProbe } from './types.js';
import { AT, auxvValue, readAuxv } from '../proc/auxv.js';
import { hostFacilities } from '../proc/cpu-caps.js';
import { x86_64 } from './x86_64/index.js';
import { ppc64 } from './ppc64/index.js';
import { s390x } from './s390x/index.js';
import { aarch64 } from './aarch64/index.js';

export const ARCHES: Readonly<Record<string, ArchFactory>> = {
  x64: x86_64,
  ppc64,
  s390x,
  arm64: aarch64,
};

export function archFor(nodeArch: string, probe?: CpuProbe): Arch {
  const f = ARCHES[nodeArch];
  if (f === undefined) {
    const known = Object.values(ARCHES).map((a) => a.name).join(', ');
    throw new Error(`cryo does not support the ${nodeArch} architecture yet (supported: ${known})`);
  }
  return f.create(probe);
}

let host: Arch | undefined;

/** The architecture of this machine, bound to this CPU (probed through the sys layer when it can). */
export async function hostArch(): Promise<Arch> {
  if (host) return host;
  const probe: CpuProbe = auxvProbe();
  try {
    const { sveVectorLengthFor } = await import('../sys/sve.js');
    probe.sveVectorLength = sveVectorLengthFor;
  } catch {
    // no native addon: vector lengths go unchecked
  }
  try {
    const sys = await import('../sys/cpu.js');
    const c = sys.hostCpuid();
    if (c) Object.assign(probe, { cpuid: (leaf: number, sub: number) => c.cpuid(leaf, sub), xgetbv: (i: number) => c.xgetbv(i) });
  } catch {
    // no native addon: layouts come from calibrate()
  }
  host = archFor(process.arch, probe);
  return host;
}

export { hostKernelAbi } from './host-abi.js';
export type * from './types.js';

/** What cryo's own auxiliary vector says about this CPU and kernel (AT_HWCAP, AT_HWCAP2, AT_PAGESZ), and /proc/cpuinfo's facilities (s390x). */
function auxvProbe(): CpuProbe {
  try {
    const aux = readAuxv('self');
    const pageSize = auxvValue(aux, AT.AT_PAGESZ!);
    const facilities = hostFacilities();
    return {
      hwcap: auxvValue(aux, AT.AT_HWCAP!),
      hwcap2: auxvValue(aux, AT.AT_HWCAP2!),
      ...(pageSize === undefined ? {} : { pageSize: Number(pageSize) }),
      ...(facilities === undefined ? {} : { facilities }),
    };
  } catch {
    return {};
  }
}
