// Private memory a forked child shares copy-on-write with its parent. The tree is built (tree.ts)
// with each parent's memory back before its children are made, so a child starts with its
// parent's mappings and pages. A private mapping the child had exactly where its parent had one
// (same range, flags, offset, file and advice) keeps the inherited mapping, and only the pages
// whose contents differ from the parent's are written: the rest stay the parent's physical pages,
// as they were before the dump. CRIU decides the same way (its images mark nothing: it compares
// the VMAs of parent and child).

import type { MessageValue } from '../images/value.js';
import type { RestoreImages } from '../shared/restore-images.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { vmaKind } from '../shared/vma-kinds.js';
import { inAddressOrder, rangeStart } from '../proc/index.js';
import type { Range } from '../shared/ranges.js';
import { big } from './dumped-layout.js';
import { MADV_NOT_FORKED_BITS } from '../arch/mman.js';


const overlaps = (guards: readonly Range[], v: MessageValue) => guards.some((g) => g.start < big(v.end) && g.end > big(v.start));

/** The child's VMAs it can keep as inherited from `parent` (restored before it, then forked). */
export function inheritableVmas(child: RestoreImages, parent: RestoreImages): MessageValue[] {
  const key = (v: MessageValue) => `${big(v.start)}-${big(v.end)}`;
  const theirs = new Map(((parent.mm.vmas as MessageValue[] | undefined) ?? []).map((v) => [key(v), v]));
  return ((child.mm.vmas as MessageValue[] | undefined) ?? []).filter((v) => {
    const kind = vmaKind(Number(v.status));
    const p = theirs.get(key(v));
    if (p === undefined || (kind !== 'anon-private' && kind !== 'file-private')) return false;
    const same = (f: string) => big(v[f] ?? 0n) === big(p[f] ?? 0n);
    if (!['status', 'flags', 'pgoff', 'madv'].every(same)) return false;
    if (kind === 'file-private' && !same('shmid')) return false;
    // Guard regions are kept across fork: one in either process would be the other's too.
    return (big(p.madv ?? 0n) & MADV_NOT_FORKED_BITS) === 0n && !overlaps(child.guards, v) && !overlaps(parent.guards, v);
  });
}

/** What a child keeps of its parent's mappings (set before its memory is rebuilt). */
const kept = new WeakMap<TaskCtx, { vmas: MessageValue[]; parentProt: Map<bigint, number> }>();

export function keepInherited(ctx: TaskCtx, parent: RestoreImages): void {
  const vmas = inheritableVmas(ctx.img, parent);
  const prot = new Map(((parent.mm.vmas as MessageValue[] | undefined) ?? []).map((v) => [big(v.start), Number(v.prot)]));
  kept.set(ctx, { vmas, parentProt: prot });
}

/** The child's inherited VMAs (none for a process not forked from a restored parent). */
export function inheritedVmas(ctx: TaskCtx): MessageValue[] {
  return kept.get(ctx)?.vmas ?? [];
}

/** The inherited ranges, in address order. */
export function inheritedRanges(ctx: TaskCtx): Range[] {
  return inAddressOrder(inheritedVmas(ctx).map((v) => ({ start: big(v.start), end: big(v.end) })), rangeStart);
}

/** The protection the parent left on an inherited VMA. */
export function parentProt(ctx: TaskCtx, v: MessageValue): number {
  return kept.get(ctx)!.parentProt.get(big(v.start))!;
}
