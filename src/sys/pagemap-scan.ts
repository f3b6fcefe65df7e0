/**
 * PAGEMAP_SCAN (Linux 6.7+): one ioctl on /proc/PID/pagemap returns the page ranges of a region
 * that match page categories (present, swapped, written, ...), instead of reading 8 bytes per page.
 */
import { HOST_LITTLE_ENDIAN, readU32, readU64, writeU64 } from './native-endian.js';
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

const arg = Buffer.alloc(96); // struct pm_scan_arg, every field written before each call

/** One PAGEMAP_SCAN call: the regions' count, found in `vec` (struct page_region each), and where the walk stopped. */
function scanOnce(pagemapFd: number, o: PagemapScanOptions, vec: Buffer, maxRegions: number): { n: number; walkEnd: bigint } {
  const fields = [96n, BigInt(o.flags ?? 0), o.start, o.end, 0n, addressOf(vec), BigInt(maxRegions), BigInt(o.maxPages ?? 0),
    BigInt(o.categoryInverted ?? 0), BigInt(o.categoryMask ?? 0), BigInt(o.categoryAnyofMask ?? 0),
    BigInt(o.returnMask ?? 0x1ff)];
  fields.forEach((v, i) => writeU64(arg, v, i * 8));
  const n = Number(ioctl(pagemapFd, PAGEMAP_SCAN, arg));
  return { n, walkEnd: readU64(arg, 4 * 8) };
}

/** The u64 at `off` as a number, or -1 above 2^53 - 1 (read without making a bigint). */
function u64Number(b: Buffer, off: number): number {
  const hi = readU32(b, off + (HOST_LITTLE_ENDIAN ? 4 : 0));
  return hi < 0x200000 ? hi * 0x100000000 + readU32(b, off + (HOST_LITTLE_ENDIAN ? 0 : 4)) : -1;
}

/** Region i of `vec` made by `make` (categories: their low 32 bits hold them all; a start below 2^53 made a bigint from a number, faster than readU64). */
function regionOf<T>(vec: Buffer, i: number, make: (start: bigint, bytes: number, categories: number) => T): T {
  const at = i * 24;
  const s = u64Number(vec, at);
  const e = u64Number(vec, at + 8);
  const start = s >= 0 ? BigInt(s) : readU64(vec, at);
  const bytes = s >= 0 && e >= 0 ? e - s : Number(readU64(vec, at + 8) - start);
  return make(start, bytes, readU32(vec, at + 16 + (HOST_LITTLE_ENDIAN ? 0 : 4)));
}

const asRegion = (start: bigint, bytes: number, categories: number): PageRegion => ({ start, end: start + BigInt(bytes), categories });

/** One PAGEMAP_SCAN call on an open /proc/PID/pagemap descriptor. */
export function pagemapScan(pagemapFd: number, o: PagemapScanOptions): PagemapScanResult {
  const maxRegions = o.maxRegions ?? 1024;
  const vec = Buffer.alloc(24 * maxRegions); // struct page_region { u64 start, end, categories; }
  const { n, walkEnd } = scanOnce(pagemapFd, o, vec, maxRegions);
  const regions: PageRegion[] = new Array(n);
  for (let i = 0; i < n; i++) regions[i] = regionOf(vec, i, asRegion);
  return { regions, walkEnd };
}

let sharedVec: Buffer | undefined;

/**
 * One buffer of 1024 regions for every pagemapScanEach call (each reads it out before it returns):
 * a dump of 50 small tasks made ~1,000 calls, and a fresh 24 KiB buffer each cost ~50 ms.
 */
function scanVec(): Buffer {
  return (sharedVec ??= Buffer.allocUnsafeSlow(24 * 1024));
}

/**
 * Every matching region of [o.start, o.end), by as many PAGEMAP_SCAN calls as it takes (room for
 * as many regions as the rest can hold, up to 1024); undefined on a kernel without PAGEMAP_SCAN
 * (before 6.7), where the caller reads /proc/PID/pagemap instead.
 */
export function pagemapScanAll(pagemapFd: number, o: Omit<PagemapScanOptions, 'maxRegions' | 'maxPages'>): PageRegion[] | undefined {
  return pagemapScanEach(pagemapFd, o, asRegion);
}

/**
 * pagemapScanAll with each region made by `make` from its start, length in bytes and categories:
 * the dump's page scan makes its runs so (a sparse task has 100,000: no second object, no bigint
 * for each end).
 */
export function pagemapScanEach<T>(pagemapFd: number, o: Omit<PagemapScanOptions, 'maxRegions' | 'maxPages'>, make: (start: bigint, bytes: number, categories: number) => T): T[] | undefined {
  const out: T[] = [];
  const vec = scanVec();
  try {
    for (let at = o.start; at < o.end;) {
      const left = (o.end - at) >> 12n; // regions are a page at least
      const room = Number(left < 1n ? 1n : left > 1024n ? 1024n : left);
      const { n, walkEnd } = scanOnce(pagemapFd, { ...o, start: at }, vec, room);
      for (let i = 0; i < n; i++) out.push(regionOf(vec, i, make));
      if (n < room) break; // room to spare: the walk reached o.end
      // Kernels up to at least 6.18 leave walk_end where an earlier internal pass of the same call
      // stopped, before regions the call went on to return: resuming there would return them twice.
      const last = n > 0 ? readU64(vec, (n - 1) * 24 + 8) : at;
      const next = walkEnd > last ? walkEnd : last;
      if (next <= at) break;
      at = next;
    }
  } catch (e) {
    if (e instanceof SysError && (e.code === 'EINVAL' || e.code === 'ENOTTY' || e.code === 'EOPNOTSUPP')) return undefined;
    throw e;
  }
  return out;
}
