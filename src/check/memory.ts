// Probes on memory: /proc/PID/pagemap, PAGEMAP_SCAN, soft-dirty, userfaultfd, memfd_create.
import { closeSync, openSync } from 'node:fs';
import { softDirtyWorks, trackMethod } from '../shared/track-probe.js';
import { readPagemapEntries } from '../proc/index.js';
import { addressOf, ioctl, memfdCreate, rawSyscall, readU64, writeU64 } from '../sys/index.js';
import { missing, ok, probe } from './result.js';
import type { CheckResult } from './types.js';
import { O_CLOEXEC, O_NONBLOCK } from '../shared/constants.js';

/** A page of this process that was just written to: [start, end). */
function touchedPage(pageSize: number): { buf: Buffer; start: bigint; end: bigint } {
  const buf = Buffer.alloc(pageSize * 2);
  const page = BigInt(pageSize);
  const start = ((addressOf(buf) + page - 1n) / page) * page;
  buf.fill(0x5a);
  return { buf, start, end: start + page };
}

export function pagemapProbe(pageSize: number): CheckResult {
  return probe('/proc/PID/pagemap', true, 'dump cannot tell which pages of a task are in memory', () => {
    const { buf, start, end } = touchedPage(pageSize);
    const [entry] = readPagemapEntries('self', start, end, { pageSize });
    buf.fill(0); // keep the page alive and touched until it was read
    if (!entry?.present) throw new Error('/proc/self/pagemap does not show a page just written as present');
  });
}

// PAGEMAP_SCAN = _IOWR('f', 16, struct pm_scan_arg); struct pm_scan_arg is 12 u64s, page_region 3.
const PAGEMAP_SCAN = 0xc0606610;
const PM_SCAN_ARG_SIZE = 96;
const PAGE_IS_PRESENT = 1n << 3n;

export function pagemapScanProbe(pageSize: number): CheckResult {
  return probe('PAGEMAP_SCAN', false, 'dump reads /proc/PID/pagemap entry by entry instead (slower for big tasks)', () => {
    const { buf, start, end } = touchedPage(pageSize);
    const region = Buffer.alloc(24);
    const arg = Buffer.alloc(PM_SCAN_ARG_SIZE);
    const fields = [BigInt(PM_SCAN_ARG_SIZE), 0n, start, end, 0n, addressOf(region), 1n, 0n, 0n, 0n, PAGE_IS_PRESENT, PAGE_IS_PRESENT];
    fields.forEach((v, i) => writeU64(arg, v, i * 8));
    const fd = openSync('/proc/self/pagemap', 'r');
    try {
      const n = ioctl(fd, PAGEMAP_SCAN, arg);
      buf.fill(0);
      if (n !== 1n || readU64(region, 0) !== start) throw new Error(`PAGEMAP_SCAN did not report a page just written (${n} regions)`);
    } finally {
      closeSync(fd);
    }
  });
}

/** Soft-dirty as CRIU tests it (clear_refs 4, a page written, pagemap bit 55). */
export function softDirtyProbe(pageSize: number): CheckResult {
  const name = 'soft-dirty';
  const meaning = 'CONFIG_MEM_SOFT_DIRTY is off: pre-dump chains track writes with a userfaultfd (UFFD_FEATURE_WP_ASYNC, Linux 6.7+) where the kernel has that';
  try {
    return softDirtyWorks(pageSize) ? ok(name, false) : missing(name, false, meaning);
  } catch (e) {
    return missing(name, false, meaning, e);
  }
}

/** Which write tracking a pre-dump chain would use here (the one `cryo pre-dump` picks), or none. */
export function writeTrackingProbe(pageSize: number): CheckResult {
  const name = 'pre-dump write tracking';
  const method = trackMethod(pageSize);
  if (method === 'uffd-wp') return ok(name, false, 'userfaultfd UFFD_FEATURE_WP_ASYNC and PAGEMAP_SCAN');
  if (method === 'soft-dirty') return ok(name, false, 'soft-dirty (clear_refs and pagemap)');
  return missing(name, false, 'neither UFFD_FEATURE_WP_ASYNC nor soft-dirty: pre-dump and --track-mem are refused (a plain dump works)');
}

export function userfaultfdProbe(): CheckResult {
  return probe('userfaultfd', false, 'no lazy restore (pages fetched on first touch) or post-copy migration', () => {
    closeSync(Number(rawSyscall('userfaultfd', O_CLOEXEC | O_NONBLOCK)));
  });
}

export function memfdProbe(): CheckResult {
  return probe('memfd_create', false, 'shared anonymous memory and memfd mappings cannot be restored', () => {
    closeSync(memfdCreate('cryo-check'));
  });
}

