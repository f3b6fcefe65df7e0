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
import type { Injector } from '../inject/index.js';
import { readStat } from '../proc/index.js';
import type { Range } from '../shared/ranges.js';
import { S, savesPages, type DumpVma } from './vmas.js';
import type { TrackMethod } from '../shared/track-probe.js';

export { NO_TRACKING, trackMethod, type TrackMethod } from '../shared/track-probe.js';

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

/** The state a dump that goes on tracking leaves in its directory for the next one. */
export const TRACK_FILE = 'cryo-track.json';

/** A process as cryo identifies it across runs: its PID and its start time (clock ticks after boot). */
export interface ProcId { pid: number; start: string }

/** The start time of a live process (a zombie's descriptors are closed already: undefined). */
export function startOf(pid: number): string | undefined {
  try {
    const st = readStat(pid);
    return st.state === 'Z' || st.state === 'X' ? undefined : String(st.starttime);
  } catch {
    return undefined;
  }
}

export const alive = (p: ProcId): boolean => startOf(p.pid) === p.start;

/** A private VMA with pages a dump writes (the vDSO and friends are the kernel's). */
export function isTrackable(d: DumpVma): boolean {
  return savesPages(d) && (d.status & (S.VDSO | S.VVAR | S.VSYSCALL)) === 0;
}
