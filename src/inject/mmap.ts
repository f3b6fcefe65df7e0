/**
 * mmap injected into a stopped task the way its architecture's ABI takes it (SyscallAbi.mmapCall):
 * six register arguments on most, a pointer to a block of them on s390x. Every injected mmap goes
 * through here so generic code never spells out the argument convention.
 */
import { processVmReadv, processVmWritev } from '../sys/index.js';
import { InjectError } from './errors.js';
import type { Injector } from './injector.js';
import type { Steps } from './steps.js';

export type MmapArgs = [addr: bigint | number, len: bigint | number, prot: bigint | number, flags: bigint | number, fd: bigint | number, offset: bigint | number];

/** The arch's call for mmap(args). */
export function mmapCallOf(inj: Injector, args: MmapArgs) {
  const [addr, len, prot, flags, fd, offset] = args.map((a) => BigInt(a)) as [bigint, bigint, bigint, bigint, bigint, bigint];
  return inj.arch.syscall.mmapCall(addr, len, prot, flags, fd, offset);
}

/** injectMmap as a step (steps.ts): beside other tasks' calls where its arguments go in registers. */
export function* mmapStep(inj: Injector, args: MmapArgs): Steps<bigint> {
  const c = mmapCallOf(inj, args);
  if (c.argStruct === undefined) return yield { inj, name: c.name, args: c.args };
  return yield { alone: () => injectMmap(inj, ...args) };
}

/** Runs mmap(args) in the task; returns the raw result as `Injector.call` does (a -errno result throws). */
export function injectMmap(inj: Injector, ...args: MmapArgs): bigint {
  const c = mmapCallOf(inj, args);
  if (c.argStruct === undefined) return inj.call(c.name, ...c.args);
  // The block goes in cryo's own argument area, else below the stack pointer and its red zone:
  // memory the stopped task is not using.
  const len = c.argStruct.length;
  const at = inj.argArea ?? (inj.arch.syscall.sp(inj.savedRegs) - BigInt(inj.arch.redZone) - BigInt(len)) & ~15n;
  const saved = processVmReadv(inj.pid, at, len);
  if (saved.length !== len || processVmWritev(inj.pid, at, c.argStruct) !== len) {
    throw new InjectError('NO_SCRATCH', `cannot write mmap's arguments below the stack pointer of task ${inj.pid}`);
  }
  try {
    return inj.call(c.name, at, ...c.args);
  } finally {
    processVmWritev(inj.pid, at, saved);
  }
}
