/**
 * Tracking what a task writes between the dumps of a chain (pre-dump, pre-dump, dump) where the
 * kernel has async uffd-wp (track-method.ts chooses; soft-dirty.ts where it has not): a userfaultfd
 * with UFFD_FEATURE_WP_ASYNC registered for write-protect on the task's private mappings. A write
 * to a protected page is resolved by the kernel itself (it only clears the page's uffd-wp bit: the
 * task sees no signal and no fault it could notice);
 * PAGEMAP_SCAN with PM_SCAN_WP_MATCHING reports the written pages and protects them again.
 *
 * The userfaultfd must be created in the task (it belongs to the mm of its creator): an injected
 * userfaultfd(2), copied out with pidfd_getfd and closed in the task again, so the task's descriptor
 * table is as it was. Between cryo runs a small holder process (`cryo-track`, detached) keeps the
 * descriptors open; DIR/cryo-track.json names it. When the holder ends (the chain ended, a dump of
 * the chain failed, the task exited, or someone killed it) the kernel unregisters the mappings and
 * clears every uffd-wp bit: the task is left exactly as it was.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { closeSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  PAGE_IS_WRITTEN, PM_SCAN_CHECK_WPASYNC, PM_SCAN_WP_MATCHING, SysError, UFFD_FEATURE_WP_ASYNC, UFFD_USER_MODE_ONLY,
  pagemapScan, pidfdGetfd, pidfdOpen, pidfdSendSignal, uffdApi, uffdRegisterWp,
} from '../sys/index.js';
import type { Injector } from '../inject/index.js';
import { DumpError } from '../shared/dump-error.js';
import { O_CLOEXEC, O_NONBLOCK } from '../shared/constants.js';
import { PageReader } from '../images/pages.js';
import { PE_PARENT } from '../images/flags.js';
import type { DumpVma } from './vmas.js';
import { intersect, withoutRanges, type Range } from '../shared/ranges.js';
import { NO_TRACKING, TRACK_FILE, alive, isTrackable as trackableVma, startOf, trackMethod, type ProcId, type WriteTracking } from './track-method.js';
import { SoftDirtyTracking, softDirtyFrom, type SoftDirtyState } from './soft-dirty.js';


interface TrackState { method?: 'uffd-wp'; holder: ProcId; procs: (ProcId & { fd: number })[] }

/**
 * The tracking for a new chain on this kernel (uffd-wp where it works, else soft-dirty), refused
 * before the task is touched when it has neither.
 */
export function newTracking(pageSize: number): WriteTracking {
  const method = trackMethod(pageSize);
  if (method === undefined) throw new DumpError('UNSUPPORTED', NO_TRACKING);
  return method === 'uffd-wp' ? new Tracking(undefined, undefined) : new SoftDirtyTracking(pageSize);
}

/** The tracking a pre-dump left in `dir`, checked to be alive; throws DumpError naming what is wrong. */
export function takeTracking(parent: string, pid: number, pageSize: number): WriteTracking {
  const file = path.join(parent, TRACK_FILE);
  if (!existsSync(file)) {
    throw new DumpError('FAILED', `${parent} has no memory tracking to continue (no ${TRACK_FILE}: it is not a pre-dump, its chain ended, or a later dump took it): pre-dump again`);
  }
  let state: TrackState | SoftDirtyState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as TrackState | SoftDirtyState;
  } catch (e) {
    throw new DumpError('FAILED', `${file} is damaged (${(e as Error).message}): pre-dump again`);
  }
  const root = state.procs?.[0];
  if (root === undefined || root.pid !== pid || !alive(root)) throw new DumpError('FAILED', `${parent} is a pre-dump of another process than ${pid}: give the pre-dump of this one`);
  if (state.method === 'soft-dirty') return softDirtyFrom(state, file, pid, pageSize);
  if (!alive(state.holder)) throw new DumpError('FAILED', `the memory tracking of ${parent} ended (its holder, PID ${state.holder.pid}, is gone): pre-dump again`);
  return new Tracking(state, file);
}

/** The uffd-wp tracking of one dump of a chain: the previous holder's descriptors, and those made now. */
export class Tracking implements WriteTracking {
  readonly method = 'uffd-wp';
  /** cryo's copies of each process's userfaultfd, by PID. */
  private readonly fds = new Map<number, number>();
  private holderFd = -1;

  constructor(private readonly prev: TrackState | undefined, private readonly prevFile: string | undefined) {}

  /**
   * Called with the task frozen: the previous holder's descriptors are copied, and its state file
   * is retired (a second dump against the same parent would see pages protected again by this one).
   */
  adopt(): void {
    if (!this.prev) return;
    const ended = () => new DumpError('FAILED', `the memory tracking of ${path.dirname(this.prevFile!)} ended during the dump (its holder, PID ${this.prev!.holder.pid}, is gone): pre-dump again`);
    try {
      this.holderFd = pidfdOpen(this.prev.holder.pid);
    } catch {
      throw ended();
    }
    if (!alive(this.prev.holder)) throw ended();
    for (const p of this.prev.procs) {
      if (!alive(p)) continue;
      try {
        this.fds.set(p.pid, pidfdGetfd(this.holderFd, p.fd));
      } catch (e) {
        if (e instanceof SysError && e.code === 'ESRCH') throw ended();
        throw e;
      }
    }
    // With cryo's copies taken, the old holder may go (it does, once its state file is gone): if
    // cryo dies now, its copies close and the kernel removes the tracking.
    renameSync(this.prevFile!, `${this.prevFile!}.used`);
  }

  /** Whether `pid`'s pages were tracked since the parent dump. */
  tracked(pid: number): boolean {
    return this.prev !== undefined && this.fds.has(pid);
  }

  /**
   * The written pages of each tracked private VMA of a frozen process since the parent dump, all
   * protected again by the same scan. Undefined for a VMA not tracked (new, moved, or registered
   * by the task's own userfaultfd): all its pages count as written.
   */
  writtenSince(_pid: number, pagemapFd: number, vmas: readonly DumpVma[]): Map<DumpVma, Range[]> {
    const out = new Map<DumpVma, Range[]>();
    for (const d of vmas) {
      if (!isTrackable(d) || !(d.vma.smaps?.vmFlags ?? []).includes('uw')) continue;
      const written: Range[] = [];
      try {
        for (let at = d.vma.start; at < d.vma.end;) {
          const r = pagemapScan(pagemapFd, { start: at, end: d.vma.end, flags: PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, categoryMask: PAGE_IS_WRITTEN, returnMask: PAGE_IS_WRITTEN });
          for (const g of r.regions) written.push({ start: g.start, end: g.end });
          if (r.walkEnd <= at) break;
          at = r.walkEnd;
        }
      } catch (e) {
        if (e instanceof SysError && e.code === 'EPERM') continue; // not async WP tracking: not ours
        throw e;
      }
      out.set(d, written);
    }
    return out;
  }

  /**
   * Starts (or extends) tracking of a frozen process: its userfaultfd (made in the task the first
   * time) is registered on every private VMA not tracked yet, whose pages are then protected.
   */
  track(pid: number, inj: Injector, pagemapFd: number, vmas: readonly DumpVma[], already: ReadonlyMap<DumpVma, Range[]>): void {
    let fd = this.fds.get(pid);
    if (fd === undefined) {
      const inTask = Number(inj.call('userfaultfd', O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
      const pidfd = pidfdOpen(pid);
      try {
        fd = pidfdGetfd(pidfd, inTask);
      } finally {
        closeSync(pidfd);
        inj.call('close', inTask);
      }
      this.fds.set(pid, fd);
      try {
        uffdApi(fd, UFFD_FEATURE_WP_ASYNC);
      } catch (e) {
        if (e instanceof SysError && e.code === 'EINVAL') throw new DumpError('UNSUPPORTED', NO_TRACKING);
        throw e;
      }
    }
    for (const d of vmas) {
      if (!isTrackable(d) || already.has(d)) continue;
      try {
        uffdRegisterWp(fd, d.vma.start, d.vma.end - d.vma.start);
      } catch (e) {
        // EBUSY: the task's own userfaultfd has it; EINVAL: a kind that cannot be tracked. Its
        // pages are dumped whole each time.
        if (e instanceof SysError && (e.code === 'EBUSY' || e.code === 'EINVAL' || e.code === 'EPERM')) continue;
        throw e;
      }
      // Registering protects nothing yet: every present page is "written"; protect them all.
      for (let at = d.vma.start; at < d.vma.end;) {
        const r = pagemapScan(pagemapFd, { start: at, end: d.vma.end, flags: PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, categoryMask: PAGE_IS_WRITTEN, returnMask: PAGE_IS_WRITTEN, maxRegions: 1024 });
        if (r.walkEnd <= at) break;
        at = r.walkEnd;
      }
    }
  }

  /**
   * After a successful dump that goes on tracking: a new holder takes every descriptor, `dir`
   * records it, and the previous holder ends.
   */
  handOver(dir: string, procs: readonly number[]): void {
    const kept = procs.filter((p) => this.fds.has(p));
    const fds = kept.map((p) => this.fds.get(p)!);
    const stateFile = path.join(dir, TRACK_FILE);
    const child = spawn(process.execPath, ['-e', HOLDER, path.resolve(stateFile), ...kept.map((p) => `${p}:${startOf(p)}`)], {
      detached: true, cwd: '/', stdio: ['ignore', 'ignore', 'ignore', ...fds], env: {},
    });
    child.unref();
    const holder = { pid: child.pid!, start: startOf(child.pid!) ?? '' };
    const state: TrackState = { method: 'uffd-wp', holder, procs: kept.map((p, i) => ({ pid: p, start: startOf(p) ?? '', fd: 3 + i })) };
    writeFileSync(stateFile, JSON.stringify(state, null, 1) + '\n', { mode: 0o600 });
    this.endPrevious();
    this.closeCopies();
  }

  /** The chain ends (or this dump failed): every descriptor is closed, so the kernel removes the tracking. */
  end(): void {
    this.endPrevious();
    this.closeCopies();
  }

  private endPrevious(): void {
    if (this.holderFd < 0) return;
    try {
      pidfdSendSignal(this.holderFd, constants.signals.SIGKILL);
    } catch { /* gone already */ }
    closeSync(this.holderFd);
    this.holderFd = -1;
  }

  private closeCopies(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

/** Private mappings whose pages a dump writes (the vDSO and friends are the kernel's). */
/**
 * A private VMA whose writes tracking can follow. Not a PROT_NONE one (a library's gap with pages
 * in it): arm64's 6.12 reads such pages through /proc/PID/mem no more once they are write-protected
 * (EIO), and nothing writes them until it becomes readable, when it is registered; until then its
 * pages are dumped whole each time.
 */
function isTrackable(d: DumpVma): boolean {
  return trackableVma(d) && d.vma.read;
}

/**
 * The holder: keeps its descriptors 3.. open until none of the tracked processes lives (checked
 * each second by PID and start time), its state file no longer names it (a later dump took the
 * tracking, or the images were removed; the first 5 s it may not be written yet), or it is killed.
 * Ordinary terminating signals it ignores, so a terminal's hangup does not end a chain.
 */
const HOLDER = `
process.title = 'cryo-track';
for (const s of ['SIGHUP', 'SIGINT', 'SIGPIPE', 'SIGUSR1', 'SIGUSR2']) process.on(s, () => {});
const fs = require('fs');
const [state, ...rest] = process.argv.slice(1);
const want = rest.map((w) => w.split(':'));
const alive = ([p, st]) => { try { const t = fs.readFileSync('/proc/' + p + '/stat', 'utf8'); return t.slice(t.lastIndexOf(')') + 2).split(' ')[19] === st; } catch { return false; } };
const named = () => { try { return JSON.parse(fs.readFileSync(state, 'utf8')).holder.pid === process.pid; } catch { return process.uptime() < 5; } };
setInterval(() => { if (!want.some(alive) || !named()) process.exit(0); }, 1000);
`;

/** The pages the parent dump of `pid` has (with bytes, or in its own parent), as sorted ranges. */
export function parentPageRanges(parent: string, pid: number, pageSize: number): Range[] {
  // A parent whose pages went to a page server kept its pagemap as cryo-sent-pagemap-PID.img.
  const file = [`pagemap-${pid}.img`, `cryo-sent-pagemap-${pid}.img`].map((n) => path.join(parent, n)).find((f) => existsSync(f));
  if (file === undefined) return [];
  const reader = new PageReader(file, undefined, pageSize);
  const out: Range[] = [];
  try {
    for (const r of reader) {
      if (r.offset < 0 && (r.flags & PE_PARENT) === 0) continue;
      const start = r.vaddr;
      const end = r.vaddr + BigInt(r.nrPages * pageSize);
      const last = out[out.length - 1];
      if (last && last.end === start) last.end = end;
      else out.push({ start, end });
    }
  } finally {
    reader.close();
  }
  return out;
}

/** Tracked VMAs minus their written pages, within what the parent has: the pages left to the parent. */
export function unchangedRanges(written: ReadonlyMap<DumpVma, Range[]>, parent: readonly Range[]): Range[] {
  const clean = [...written]
    .sort((a, b) => (a[0].vma.start < b[0].vma.start ? -1 : 1))
    .flatMap(([d, w]) => withoutRanges(d.vma.start, d.vma.end, w));
  return intersect(clean, parent);
}
