// Guard regions (madvise MADV_GUARD_INSTALL, Linux 6.13+): page-table markers inside a VMA that
// fault on any access. They have no pages to save (reading one fails with EIO); CRIU 4.2 records
// each run of them as a VMA entry of status VMA_AREA_GUARD alone, after the real VMAs.
import { closeSync, openSync } from 'node:fs';
import { procPath } from '../proc/index.js';
import { PAGE_IS_GUARD, pagemapScanAll } from '../sys/index.js';
import { type MessageValue } from '../images/index.js';
import { VMA } from '../shared/vma-kinds.js';
import type { Range } from '../shared/ranges.js';
import { S, type DumpVma } from './vmas.js';

/**
 * The guard regions in `vmas` of task `pid`, found by PAGEMAP_SCAN's PAGE_IS_GUARD (Linux 6.15+).
 * A kernel without it reports none (as CRIU does): EINVAL for the unknown category.
 */
export function guardRanges(pid: number, vmas: readonly DumpVma[]): Range[] {
  // [vsyscall] lies above the user address space, where the scan fails with EFAULT.
  const user = vmas.filter((d) => (d.status & S.VSYSCALL) === 0);
  if (user.length === 0) return [];
  const start = user[0]!.vma.start;
  const end = user[user.length - 1]!.vma.end;
  const fd = openSync(procPath(pid, 'pagemap'), 'r');
  try {
    const out: Range[] = [];
    for (const g of pagemapScanAll(fd, { start, end, categoryMask: PAGE_IS_GUARD, returnMask: PAGE_IS_GUARD }) ?? []) {
      const last = out[out.length - 1];
      if (last && last.end === g.start) last.end = g.end;
      else out.push({ start: g.start, end: g.end });
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** mm.img's entry for one guard region, as CRIU 4.2 writes it. */
export function guardEntry(g: Range): MessageValue {
  return { start: g.start, end: g.end, pgoff: 0n, shmid: 0n, prot: 0, flags: 0, status: VMA.GUARD, fd: -1n };
}
