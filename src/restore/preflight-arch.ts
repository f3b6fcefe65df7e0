// Restore's checks of the architecture and CPU: the dump's machine against this one, before
// anything starts (part of preflight).
import type { Arch, MissingFeature, ThreadInfo } from '../arch/types.js';
import type { ImageRecord } from '../arch/regtable.js';
import { readCryoCpu } from '../images/cryo-cpu.js';
import type { MessageValue } from '../images/value.js';
import { RestoreError } from '../shared/restore-error.js';
import type { RestoreImages } from '../shared/restore-images.js';
import { checkMemoryTags } from './mem-tags.js';

/** The thread_info of the task's only thread, as the arch module reads it. */
export function threadInfoOf(img: RestoreImages, arch: Arch): ThreadInfo {
  const ti = img.core[arch.threadInfoField] as ThreadInfo | undefined;
  if (ti === undefined) {
    throw new RestoreError('ARCH_MISMATCH', `core-${img.pid}.img has no ${arch.threadInfoField}: it was not dumped on ${arch.name}`);
  }
  return ti;
}

export function checkArch(img: RestoreImages, arch: Arch): void {
  // CRIU writes an image's framing in the dumping machine's byte order: one in the other order
  // comes from a machine whose registers and kernel structs this one cannot take.
  const ORDER = { LE: 'little-endian', BE: 'big-endian' } as const;
  for (const [name, im] of img.all) {
    if (im.byteOrder !== undefined && im.byteOrder !== arch.byteOrder) {
      throw new RestoreError('ARCH_MISMATCH', `${name} was written on a ${ORDER[im.byteOrder]} machine and this one (${arch.name}) is `
        + `${ORDER[arch.byteOrder]}: restore it on a ${ORDER[im.byteOrder]} machine`);
    }
  }
  checkThreadArch(img, arch);
}

/** The main thread's core of `img` (another thread's, in a copy of img with its core) is of a kind this machine runs. */
export function checkThreadArch(img: RestoreImages, arch: Arch): void {
  const mtype = String(img.core.mtype);
  if (mtype !== arch.criuMarch) {
    throw new RestoreError('ARCH_MISMATCH', `the dump is of a ${mtype} process and this machine is ${arch.criuMarch}: restore it on a ${mtype} machine`);
  }
  let mode: string | undefined;
  try {
    mode = arch.unrestorableMode(threadInfoOf(img, arch));
  } catch (e) {
    throw new RestoreError('IMAGE_INCONSISTENT', `core-${img.pid}.img: ${(e as Error).message}`);
  }
  if (mode !== undefined) throw new RestoreError('ARCH_MISMATCH', `process ${img.pid} is ${mode}; cryo restores ${arch.name} processes only`);
  const task = arch.forThreadInfo(threadInfoOf(img, arch));
  const why = task.cannotRun();
  if (why !== undefined) {
    throw new RestoreError('ARCH_MISMATCH', `process ${img.pid} is an ${task.abi} process and ${why}: restore it on a machine that runs ${task.abi} programs`);
  }
}

export function checkCpu(img: RestoreImages, arch: Arch): void {
  const cpuinfo = img.all.get('cpuinfo.img')?.entries[0]?.value as ImageRecord | undefined;
  const order = cpuinfo && arch.imageByteOrder?.(cpuinfo);
  if (order && order !== arch.byteOrder) {
    const name = { LE: 'little-endian', BE: 'big-endian' };
    throw new RestoreError('ARCH_MISMATCH', `the dump was made on a ${name[order]} ${arch.name} machine and this one is ${name[arch.byteOrder]}: restore it on a ${name[order]} machine`);
  }
  let cryoCpu: ImageRecord | undefined;
  try {
    cryoCpu = readCryoCpu(img.dir) as ImageRecord | undefined;
  } catch (e) {
    throw new RestoreError('IMAGE_CORRUPT', `corrupt image: ${(e as Error).message}`);
  }
  // Every thread's own state (one thread may be in SME streaming mode, another use none of it), once each.
  const byMessage = new Map<string, MissingFeature>();
  for (const { tid, core } of img.threads) {
    const ti = tid === img.pid ? threadInfoOf(img, arch) : core[arch.threadInfoField] as ThreadInfo | undefined;
    for (const m of ti === undefined ? [] : arch.missingCpuFeatures(ti, cpuinfo, cryoCpu)) if (!byMessage.has(m.message)) byMessage.set(m.message, m);
  }
  const missing = [...byMessage.values()];
  missing.push(...missingProtBits(img, arch, missing));
  if (missing.length > 0) throw new RestoreError('CPU_FEATURE', missingLine(missing));
  checkMemoryTags(img.dir, img.pid, arch);
}

/** Memory mapped with a protection bit of a feature this CPU lacks (aarch64 PROT_BTI), unless `named` has the feature. */
export function missingProtBits(img: RestoreImages, arch: Arch, named: readonly MissingFeature[]): MissingFeature[] {
  return (arch.protVmFlags ?? []).flatMap((p) => {
    const v = ((img.mm.vmas as MessageValue[] | undefined) ?? []).find((x) => (Number(x.prot) & p.protBit) !== 0);
    if (p.present || v === undefined || named.some((m) => m.name === p.feature)) return [];
    return [{ name: p.feature, bits: [], message: `the task's ${p.pages} (at 0x${BigInt(v.start as bigint).toString(16)}) need ${p.feature} (${p.featureName}), which this CPU lacks: restore it on a CPU that has it` }];
  });
}

/** One line for what this CPU lacks: the dumping CPU's features in one clause, then each of the task's needs. */
export function missingLine(missing: readonly MissingFeature[]): string {
  const ran = missing.filter((m) => m.dumpingCpu !== undefined);
  const rest = missing.filter((m) => m.dumpingCpu === undefined).map((m) => m.message);
  if (ran.length <= 1) return [...ran.map((m) => m.message), ...rest].join('; ');
  const names = ran.map((m) => m.dumpingCpu!);
  const clause = `the task ran on a CPU with ${names.slice(0, -1).join(', ')} and ${names.at(-1)!}, which this CPU lacks: restore it on a CPU that has them`;
  return [clause, ...rest].join('; ');
}
