// Guard regions (madvise MADV_GUARD_INSTALL, Linux 6.13+): installed again over the ranges mm.img
// lists, once the mappings around them are in place and filled.
import { RestoreError } from '../shared/restore-error.js';
import type { RestoreImages } from '../shared/restore-images.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { withoutRanges } from '../shared/ranges.js';
import { madviseKnows } from '../sys/index.js';
import { MADV_GUARD_INSTALL } from '../arch/mman.js';
import { big, hex } from './dumped-layout.js';

/** Each guard region is whole pages inside the dumped mappings, and this kernel can install it. */
export function checkGuards(img: RestoreImages, pageSize: number): void {
  if (img.guards.length === 0) return;
  const page = BigInt(pageSize);
  const mapped = ((img.mm.vmas as { start: unknown; end: unknown }[] | undefined) ?? []).map((v) => ({ start: big(v.start), end: big(v.end) }));
  for (const g of img.guards) {
    const why = g.start % page !== 0n || g.end % page !== 0n ? `is not made of whole ${pageSize}-byte pages`
      : g.end <= g.start ? 'is empty or ends before it starts'
        : withoutRanges(g.start, g.end, mapped).length > 0 ? 'lies outside the mappings' : undefined;
    if (why !== undefined) {
      throw new RestoreError('IMAGE_INCONSISTENT', `mm-${img.pid}.img: the guard region ${hex(g.start)}-${hex(g.end)} ${why}: the images are damaged; restore from an intact copy`);
    }
  }
  if (!madviseKnows(MADV_GUARD_INSTALL)) {
    throw new RestoreError('UNSUPPORTED', `process ${img.pid} has guard regions (madvise MADV_GUARD_INSTALL) from ${hex(img.guards[0]!.start)}, which this kernel cannot make: restore it on Linux 6.13 or later`);
  }
}

/** Installs the guard regions in the restored task (after its pages are in: a guard has none). */
export function installGuards(ctx: TaskCtx): void {
  for (const g of ctx.img.guards) ctx.call('madvise', g.start, g.end - g.start, MADV_GUARD_INSTALL);
}
