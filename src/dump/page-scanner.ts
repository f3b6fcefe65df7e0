// Where a task has pages: PAGEMAP_SCAN where the kernel has it (one ioctl per 1024 runs), else
// /proc/PID/pagemap.
import { closeSync, openSync } from 'node:fs';
import { readPageRuns, procPath } from '../proc/index.js';
import { PAGE_IS_FILE, PAGE_IS_PRESENT, PAGE_IS_SWAPPED, pagemapScanEach } from '../sys/index.js';

/** Runs of pages the task has (present or swapped), with whether each is a file's page (not copied on write). */
export interface Run { start: bigint; pages: number; file: boolean }

/**
 * The present or swapped pages of [start, end): PAGEMAP_SCAN (one ioctl for up to 1024 runs) where
 * the kernel has it, else /proc/PID/pagemap read 8 bytes per page.
 */
export class PageScanner {
  private fd = -1;
  private scan: boolean;
  constructor(private readonly pid: number, private readonly pageSize: number) {
    this.scan = process.env.CRYO_NO_PAGEMAP_SCAN !== '1';
  }

  /**
   * `fileToo`: whether each run says if its pages are a file's. Asking costs the kernel a look at
   * every page's struct page (~12 ms per GiB); without it a present anonymous page is a PTE bit.
   */
  runs(start: bigint, end: bigint, fileToo = true): Run[] {
    if (this.scan) {
      if (this.fd < 0) this.fd = openSync(procPath(this.pid, 'pagemap'), 'r');
      const pageSize = this.pageSize;
      const found = pagemapScanEach(this.fd, { start, end, categoryAnyofMask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED, returnMask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED | (fileToo ? PAGE_IS_FILE : 0) },
        (s, bytes, categories): Run => ({ start: s, pages: bytes / pageSize, file: (categories & PAGE_IS_FILE) !== 0 }));
      if (found) return found;
      this.scan = false; // a kernel before 6.7
    }
    return readPageRuns(this.pid, start, end, { pageSize: this.pageSize }).map((r) => ({ start: r.start, pages: r.pages, file: r.file }));
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
