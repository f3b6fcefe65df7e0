// Page runs cut to the VMAs they fall in, scanning each stretch of adjacent VMAs once.
import { S, type DumpVma } from './vmas.js';
import { PageScanner, type Run } from './page-scanner.js';

/**
 * The runs of each of `vmas` (in address order), scanned once per stretch of adjacent VMAs rather
 * than once per VMA (a task with 20k small VMAs: 20k scans otherwise), then cut at VMA boundaries.
 */
export function* scanGroups(scanner: PageScanner, vmas: readonly DumpVma[], page: bigint): Generator<{ d: DumpVma; runs: Run[] }> {
  for (let i = 0; i < vmas.length;) {
    let j = i + 1;
    while (j < vmas.length && vmas[j]!.vma.start === vmas[j - 1]!.vma.end) j++;
    // Only a private file mapping's runs need to tell file pages (not copied on write) from the task's.
    const fileToo = vmas.slice(i, j).some((d) => (d.status & S.FILE_PRIVATE) !== 0);
    const runs = scanner.runs(vmas[i]!.vma.start, vmas[j - 1]!.vma.end, fileToo);
    let k = 0;
    for (const d of vmas.slice(i, j)) {
      const mine: Run[] = [];
      for (; k < runs.length; k++) {
        const r = runs[k]!;
        const rEnd = r.start + BigInt(r.pages) * page;
        if (r.start >= d.vma.end) break;
        const s = r.start > d.vma.start ? r.start : d.vma.start;
        const e = rEnd < d.vma.end ? rEnd : d.vma.end;
        if (e > s) mine.push(s === r.start && e === rEnd ? r : { start: s, pages: Number((e - s) / page), file: r.file });
        if (rEnd > d.vma.end) break; // the rest of this run belongs to the next VMA
      }
      yield { d, runs: mine };
    }
    i = j;
  }
}
