/**
 * Which write tracking this kernel offers a pre-dump chain, found by trying each on cryo's own
 * memory (never by architecture): used by dump (src/dump/track-method.ts) and `cryo check`.
 */
import { closeSync, writeFileSync } from 'node:fs';
import { readPagemapEntries } from '../proc/index.js';
import { SysError, UFFD_FEATURE_WP_ASYNC, UFFD_USER_MODE_ONLY, addressOf, rawSyscall, uffdApi } from '../sys/index.js';
import { O_CLOEXEC, O_NONBLOCK } from './constants.js';

export type TrackMethod = 'uffd-wp' | 'soft-dirty';

/** Whether this kernel gives a userfaultfd UFFD_FEATURE_WP_ASYNC (tried on one of cryo's own). */
export function uffdWpAsyncWorks(): boolean {
  let fd: number;
  try {
    fd = Number(rawSyscall('userfaultfd', O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
  } catch {
    return false;
  }
  try {
    uffdApi(fd, UFFD_FEATURE_WP_ASYNC);
    return true;
  } catch (e) {
    if (e instanceof SysError) return false;
    throw e;
  } finally {
    closeSync(fd);
  }
}

/**
 * Soft-dirty as CRIU tests it: clear the bits of this process (clear_refs 4), write a page, and see
 * whether pagemap marks it (bit 55). Without CONFIG_MEM_SOFT_DIRTY the bit is never set (clear_refs
 * takes the 4 and does nothing). Throws where clear_refs or pagemap cannot be used at all.
 */
export function softDirtyWorks(pageSize: number): boolean {
  const buf = Buffer.alloc(pageSize * 2);
  writeFileSync('/proc/self/clear_refs', '4');
  const page = BigInt(pageSize);
  const start = ((addressOf(buf) + page - 1n) / page) * page;
  buf.fill(0xa5);
  const [entry] = readPagemapEntries('self', start, start + page, { pageSize });
  buf.fill(0); // the page stays alive and written until it was read
  return entry?.softDirty ?? false;
}

let chosen: TrackMethod | undefined | null = null;

/** The method a new chain uses on this kernel (uffd-wp first), or undefined when it has neither. */
export function trackMethod(pageSize: number): TrackMethod | undefined {
  if (chosen !== null) return chosen;
  chosen = uffdWpAsyncWorks() ? 'uffd-wp' : safely(() => softDirtyWorks(pageSize)) ? 'soft-dirty' : undefined;
  return chosen;
}

function safely(f: () => boolean): boolean {
  try {
    return f();
  } catch {
    return false;
  }
}

/** What a kernel without either method lacks, in the words of the refusal. */
export const NO_TRACKING = 'this kernel has no UFFD_FEATURE_WP_ASYNC (Linux 6.7+, on an architecture with uffd-wp) and no soft-dirty (CONFIG_MEM_SOFT_DIRTY): it cannot track the memory a task writes; dump without pre-dump';
