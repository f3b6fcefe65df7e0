// Each thread's registers in the two forms restore gives them back in, built from its image once:
// the regsets (checked in preflight, written at resume) and the length of its signal frame
// (preflight's dry build gives it; resume lays the frames out by it and builds each at its place).
// A thread of a 100-thread task has a few KiB of xsave state to encode: doing it once per use was
// a large part of such a restore.
import type { Arch, ThreadInfo } from '../arch/types.js';

interface Built {
  arch: Arch;
  regsets?: Map<number, Buffer>;
  frameLength?: number;
}

/** Keyed by the decoded thread_info (one per thread per restore: dropped with the images). */
const built = new WeakMap<ThreadInfo, Built>();

function entry(arch: Arch, ti: ThreadInfo): Built {
  let e = built.get(ti);
  if (e === undefined || e.arch !== arch) built.set(ti, (e = { arch }));
  return e;
}

/** arch.regsetsFromThreadInfo(ti), built once (callers do not change the buffers). */
export function regsetsOf(arch: Arch, ti: ThreadInfo): ReadonlyMap<number, Buffer> {
  const e = entry(arch, ti);
  return (e.regsets ??= arch.regsetsFromThreadInfo(ti));
}

/**
 * The length of ti's signal frame (as built at an address aligned to arch.sigframeAlign; its mask
 * and alternate stack do not change it): a dry build the first time, which throws what the image
 * makes impossible.
 */
export function frameLengthOf(arch: Arch, ti: ThreadInfo): number {
  const e = entry(arch, ti);
  return (e.frameLength ??= arch.buildSigframe(ti, { sigmask: 0n, addressOfFrame: 0n }).frame.length);
}
