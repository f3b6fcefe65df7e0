// Where restore may write page contents: private memory (anonymous or a private file mapping,
// whose pages never reach the file) and the shared memory objects cryo makes itself. A page run
// in a MAP_SHARED file mapping would be written into that file: the pagemap never has one.

import type { MessageValue } from '../images/value.js';
import { RestoreError } from '../shared/restore-error.js';
import type { RestoreImages } from '../shared/restore-images.js';
import { vmaKind } from '../shared/vma-kinds.js';
import { MAP_PRIVATE, MAP_SHARED } from '../arch/mman.js';
import { inAddressOrder } from '../proc/index.js';

/** mmap's sharing type bits (MAP_SHARED_VALIDATE is both). */
const MAP_TYPE = MAP_SHARED | MAP_PRIVATE;
const hex = (v: bigint) => `0x${v.toString(16)}`;

/** Whether a page run may land in a VMA of this status: private, cryo's own shmem, or a kernel area restore skips. */
function fillable(v: MessageValue): boolean {
  const k = vmaKind(Number(v.status));
  return k === 'anon-private' || k === 'file-private' || k === 'shmem' || k === 'aio' || k === 'vdso' || k === 'skip';
}

/** A private file mapping must be mapped private: MAP_SHARED there would write its pages into the file. */
export function checkPrivateFileMappings(img: RestoreImages): void {
  for (const v of (img.mm.vmas as MessageValue[] | undefined) ?? []) {
    if (vmaKind(Number(v.status)) === 'file-private' && (Number(v.flags) & MAP_TYPE) !== MAP_PRIVATE) {
      throw new RestoreError('UNSAFE', `mm-${img.pid}.img: the private file mapping at ${hex(BigInt(v.start as bigint))} has mmap flags 0x${(Number(v.flags) >>> 0).toString(16)}, not MAP_PRIVATE (a damaged or crafted image)`);
    }
  }
}

/** The merged address ranges page runs may fill, with a quick lookup for runs that come in address order. */
/** The merged ranges by the mm image's list of VMAs: preflight and the fill each make a FillableRanges (10,000 VMAs sorted and merged each time). */
const mergedRanges = new WeakMap<readonly MessageValue[], readonly (readonly [bigint, bigint])[]>();

export class FillableRanges {
  private readonly ranges: readonly (readonly [bigint, bigint])[];
  private at = 0;

  constructor(img: RestoreImages) {
    const vmas = (img.mm.vmas as MessageValue[] | undefined) ?? [];
    let ranges = mergedRanges.get(vmas);
    if (ranges === undefined) {
      const sorted = inAddressOrder(vmas.filter(fillable).map((v) => [BigInt(v.start as bigint), BigInt(v.end as bigint)] as [bigint, bigint]), (r) => r[0]);
      // Runs may span adjacent mappings: check against the merged, contiguous ranges.
      const merged: [bigint, bigint][] = [];
      for (const r of sorted) {
        const last = merged[merged.length - 1];
        if (last && last[1] === r[0]) last[1] = r[1]; else merged.push([...r]);
      }
      mergedRanges.set(vmas, (ranges = merged));
    }
    this.ranges = ranges;
  }

  /** Whether [start, end) lies inside one range. */
  covers(start: bigint, end: bigint): boolean {
    const r = this.ranges;
    if (!(this.at >= 0 && this.at < r.length && start >= r[this.at]![0] && start < r[this.at]![1])) this.at = this.indexOf(start);
    if (this.at >= 0 && end <= r[this.at]![1]) return true;
    // A damaged mm image may have overlapping ranges: the full search only where the quick one fails.
    return r.some(([s, e]) => start >= s && end <= e);
  }

  /** The index of the range that holds `addr`, or -1. */
  private indexOf(addr: bigint): number {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [s, e] = this.ranges[mid]!;
      if (addr < s) hi = mid - 1;
      else if (addr >= e) lo = mid + 1;
      else return mid;
    }
    return -1;
  }
}

/** The one-line refusal of a run outside the fillable ranges. */
export function outsideFillable(img: RestoreImages, vaddr: bigint): RestoreError {
  return new RestoreError('IMAGE_INCONSISTENT', `${img.pagemapFile}: pages at ${hex(vaddr)} lie outside every private or anonymous mapping of mm-${img.pid}.img: restore writes pages only there`);
}
