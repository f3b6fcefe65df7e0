/**
 * clone(2) injected the way the ABI orders its register arguments (SyscallAbi.cloneArgOrder), so
 * generic code names the arguments and never spells out an architecture's order.
 */
import type { CloneArg } from '../arch/types.js';
import type { Injector } from './injector.js';

/** Runs clone in the task with the arguments given (the others 0); returns the raw result as `Injector.raw` does. */
export function injectClone(inj: Injector, args: Partial<Record<CloneArg, bigint | number>>): bigint {
  return inj.raw('clone', ...inj.arch.syscall.cloneArgOrder.map((a) => BigInt(args[a] ?? 0)));
}
