// The dumped address space as mm.img lists it, for the modules that rebuild it in the stub.
import type { MessageValue } from '../images/value.js';
import type { Vma } from '../proc/index.js';
import type { Range } from '../shared/ranges.js';
import type { TaskCtx } from '../shared/task-ctx.js';

export const hex = (v: bigint): string => `0x${v.toString(16)}`;
export const big = (v: unknown): bigint => BigInt(v as bigint | number);
/** findHole takes Vmas and reads only their start and end. */
export const asVmas = (r: Range[]): Vma[] => r as unknown as Vma[];

/** mm.img's VMAs in address order. */
export function dumpedVmas(ctx: TaskCtx): MessageValue[] {
  return [...((ctx.img.mm.vmas as MessageValue[] | undefined) ?? [])].sort((a, b) => (big(a.start) < big(b.start) ? -1 : 1));
}
