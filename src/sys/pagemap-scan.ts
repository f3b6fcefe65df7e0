/**
 * PAGEMAP_SCAN (Linux 6.7+): one ioctl on /proc/PID/pagemap returns the page ranges of a region
 * that match page categories (present, swapped, written, ...), instead of reading 8 bytes per page.
 */
import { readU64, writeU64 } from './native-endian.js';
import { ioctl } from './misc.js';
import { addressOf } from './raw.js';
import { SysError } from './errno.js';

/** _IOWR('f', 16, struct pm_scan_arg); the same value on x86_64, aarch64, ppc64 and s390x. */
export const PAGEMAP_SCAN = 0xc0606610;

export const PAGE_IS_WPALLOWED = 1 << 0;
export const PAGE_IS_WRITTEN = 1 << 1;
export const PAGE_IS_FILE = 1 << 2;
export const PAGE_IS_PRESENT = 1 << 3;
export const PAGE_IS_SWAPPED = 1 << 4;
export const PAGE_IS_PFNZERO = 1 << 5;
export const PAGE_IS_HUGE = 1 << 6;
export const PAGE_IS_SOFT_DIRTY = 1 << 7;
export const PAGE_IS_GUARD = 1 << 8;

/** Write-protect the pages that matched (tracking through a WP_ASYNC userfaultfd). */
export const PM_SCAN_WP_MATCHING = 1 << 0;
/** Fail with EPERM rather than scan a VMA not registered for async write-protect tracking. */
export const PM_SCAN_CHECK_WPASYNC = 1 << 1;

export interface PagemapScanOptions {
  start: bigint;
  /** PM_SCAN_* flags. */
  flags?: number;
  end: bigint;
  /** Pages must have all of these categories (after inversion)... */
  categoryMask?: number;
  /** ...and at least one of these (0 = no condition). */
  categoryAnyofMask?: number;
  /** Categories whose meaning is inverted before matching. */
  categoryInverted?: number;
  /** Categories reported back per region (default: all). */
  returnMask?: number;
  /** Stop after this many pages (0 = no limit). */
  maxPages?: number;
  /** Room for this many regions per call (default 1024). */
  maxRegions?: number;
}

export interface PageRegion {
  start: bigint;
  end: bigint;
  categories: number;
}

export interface PagemapScanResult {
  regions: PageRegion[];
  /** Where the walk stopped: `end` when the whole range was scanned, less when a limit was hit. */
  walkEnd: bigint;
}

/** One PAGEMAP_SCAN call on an open /proc/PID/pagemap descriptor. */
export function pagemapScan(pagemapFd: number, o: PagemapScanOptions): PagemapScanResult {
  const maxRegions = o.maxRegions ?? 1024;
  const vec = Buffer.alloc(24 * maxRegions); // struct page_region { u64 start, end, categories; }
  const arg = Buffer.alloc(96); // struct pm_scan_arg
  const fields = [96n, BigInt(o.flags ?? 0), o.start, o.end, 0n, addressOf(vec), BigInt(maxRegions), BigInt(o.maxPages ?? 0),
    BigInt(o.categoryInverted ?? 0), BigInt(o.categoryMask ?? 0), BigInt(o.categoryAnyofMask ?? 0),
    BigInt(o.returnMask ?? 0x1ff)];
  fields.forEach((v, i) => writeU64(arg, v, i * 8));
  const n = Number(ioctl(pagemapFd, PAGEMAP_SCAN, arg));
  const regions = Array.from({ length: n }, (_, i) => ({
    start: readU64(vec, i * 24),
    end: readU64(vec, i * 24 + 8),
    categories: Number(readU64(vec, i * 24 + 16)),
  }));
  return { regions, walkEnd: readU64(arg, 4 * 8) };
}

/**
 * Every matching region of [o.start, o.end), by as many PAGEMAP_SCAN calls as it takes (room for
 * as many regions as the rest can hold, up to 1024); undefined on a kernel without PAGEMAP_SCAN
 * (before 6.7), where the caller reads /proc/PID/pagemap instead.
 */
export function pagemapScanAll(pagemapFd: number, o: Omit<PagemapScanOptions, 'maxRegions' | 'maxPages'>): PageRegion[] | undefined {
  const out: PageRegion[] = [];
  try {
    for (let at = o.start; at < o.end;) {
      const left = (o.end - at) >> 12n; // regions are a page at least
      const room = Number(left < 1n ? 1n : left > 1024n ? 1024n : left);
      const r = pagemapScan(pagemapFd, { ...o, start: at, maxRegions: room });
      out.push(...r.regions);
      if (r.regions.length < room) break; // room to spare: the walk reached o.end
      // Kernels up to at least 6.18 leave walk_end where an earlier internal pass of the same call
      // stopped, before regions the call went on to return: resuming there would return them twice.
      const last = out.at(-1)?.end ?? at;
      const next = r.walkEnd > last ? r.walkEnd : last;
      if (next <= at) break;
      at = next;
    }
  } catch (e) {
    if (e instanceof SysError && (e.code === 'EINVAL' || e.code === 'ENOTTY' || e.code === 'EOPNOTSUPP')) return undefined;
    throw e;
  }
  return out;
}
