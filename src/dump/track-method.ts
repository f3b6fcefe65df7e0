/**
 * How a chain of dumps (pre-dump, pre-dump, dump) learns which pages a task wrote between two of
 * them. Two kernel mechanisms, found by trying them (never by architecture):
 *
 * - `uffd-wp`: a userfaultfd with UFFD_FEATURE_WP_ASYNC and PAGEMAP_SCAN (Linux 6.7+, where the
 *   architecture has uffd-wp: x86_64, arm64); src/dump/mem-track.ts.
 * - `soft-dirty`: CONFIG_MEM_SOFT_DIRTY (x86_64, ppc64, s390x kernels built with it, 6.1 too):
 *   clear_refs 4 and pagemap bit 55; src/dump/soft-dirty.ts.
 *
 * uffd-wp is preferred where both work (it is the path CI's x86_64 host takes, whose kernel has no
 * soft-dirty); a chain keeps the method its first pre-dump chose (named in DIR/cryo-track.json).
 */
import { closeSync, writeFileSync } from 'node:fs';
import { readPagemapEntries } from '../proc/index.js';
import { SysError, UFFD_FEATURE_WP_ASYNC, UFFD_USER_MODE_ONLY, addressOf, rawSyscall, uffdApi } from '../sys/index.js';
import { O_CLOEXEC, O_NONBLOCK } from '../shared/constants.js';
import type { Injector } from '../inject/index.js';
import type { Range } from '../shared/ranges.js';
import type { DumpVma } from './vmas.js';

export type TrackMethod = 'uffd-wp' | 'soft-dirty';

/** The write tracking of one dump of a chain, whichever method it uses. */
export interface WriteTracking {
  readonly method: TrackMethod;
  /** With the task frozen: take over the parent's tracking (retiring its state file: used once). */
  adopt(): void;
  /** Whether `pid`'s writes were tracked since the parent dump. */
  tracked(pid: number): boolean;
  /**
   * The written pages of each tracked private VMA of a frozen process since the parent dump.
   * A VMA not in the map (new, moved, not trackable) counts as written whole.
   */
  writtenSince(pid: number, pagemapFd: number, vmas: readonly DumpVma[]): Map<DumpVma, Range[]>;
  /** Starts (or extends) tracking of a frozen process for the next dump of the chain. */
  track(pid: number, inj: Injector, pagemapFd: number, vmas: readonly DumpVma[], already: ReadonlyMap<DumpVma, Range[]>): void;
  /** After a successful dump that goes on tracking (the task still frozen): `dir` records the tracking. */
  handOver(dir: string, procs: readonly number[]): void;
  /** The chain ends, or this dump failed. */
  end(): void;
}

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
