// The dumped address space as mm.img lists it, for the modules that rebuild it in the stub.
import type { MessageValue } from '../images/value.js';
import { inAddressOrder, type Vma } from '../proc/index.js';
import { findHole, injectMmap } from '../inject/index.js';
import { MAP_ANONYMOUS, MAP_FIXED_NOREPLACE, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../arch/mman.js';
import type { Range } from '../shared/ranges.js';
import type { TaskCtx } from '../shared/task-ctx.js';

export const hex = (v: bigint): string => `0x${v.toString(16)}`;
export const big = (v: unknown): bigint => BigInt(v as bigint | number);
/** findHole takes Vmas and reads only their start and end. */
export const asVmas = (r: Range[]): Vma[] => r as unknown as Vma[];

/** mm.img's VMAs in address order. */
export function dumpedVmas(ctx: TaskCtx): readonly MessageValue[] {
  const vmas = (ctx.img.mm.vmas as MessageValue[] | undefined) ?? [];
  let had = byAddress.get(vmas);
  if (had === undefined) {
    had = inAddressOrder(vmas.slice(), (v) => big(v.start));
    byAddress.set(vmas, had);
  }
  return had;
}

/** The dumped VMAs in address order, by the mm image's list: a restore asks for them a dozen times (10,000 of them in a copy each). */
const byAddress = new WeakMap<readonly MessageValue[], readonly MessageValue[]>();

/**
 * Maps `size` bytes of cryo's own (read+write, anonymous) in a hole of both the dumped layout and
 * `occupied` (what else is or will be mapped: the stub's, cryo's other areas); returns the address.
 */
export function mapOwnArea(ctx: TaskCtx, size: number, occupied: readonly Range[]): bigint {
  const page = BigInt(ctx.arch.pageSize);
  const taken = [...dumpedVmas(ctx).map((v) => ({ start: big(v.start), end: big(v.end) })), ...occupied].filter((r) => r.end <= ctx.arch.mmapTop);
  const want = findHole(asVmas(taken), BigInt(size), page, ctx.arch.mmapTop);
  return BigInt.asUintN(64, injectMmap(ctx.inj, want, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
}
