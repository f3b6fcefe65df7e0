/**
 * Write tracking through soft-dirty (CONFIG_MEM_SOFT_DIRTY), where the kernel has no async uffd-wp
 * (ppc64 and s390x have no uffd-wp at all; kernels before 6.7 no UFFD_FEATURE_WP_ASYNC).
 *
 * Writing 4 to /proc/PID/clear_refs clears the soft-dirty bit of every page of the task's mm (the
 * kernel write-protects the PTEs; the task's next write to each page is a minor fault the kernel
 * resolves, setting the bit again: the task sees nothing). The next dump of the chain reads which
 * pages have the bit: PAGEMAP_SCAN with PAGE_IS_SOFT_DIRTY (6.7+), else /proc/PID/pagemap's bit 55.
 * A VMA made or grown since (VM_SOFTDIRTY) shows every page soft-dirty: written whole, as it must.
 *
 * The state lives in the mm itself: no descriptor is held between cryo runs and there is nothing
 * to remove when the chain ends, fails or cryo is killed (the bits only say "written since").
 * Anyone else clearing them (another chain's pre-dump, CRIU, the task writing clear_refs) would
 * hide writes from this chain: cryo's own clears are stamped per task in STAMP_DIR, and a dump
 * whose parent is not the last to have cleared the task's bits is refused.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readPageRuns, procPath, type PageRun } from '../proc/index.js';
import { PAGE_IS_PFNZERO, PAGE_IS_SOFT_DIRTY, pagemapScanAll } from '../sys/index.js';
import { DumpError } from '../shared/dump-error.js';
import type { Range } from '../shared/ranges.js';
import type { DumpVma } from './vmas.js';
import { TRACK_FILE, isTrackable, startOf, type ProcId, type WriteTracking } from './track-method.js';

export interface SoftDirtyState { method: 'soft-dirty'; token: string; procs: ProcId[] }

/** Where cryo stamps, per task, which dump cleared its soft-dirty bits last. */
const STAMP_DIR = path.join(existsSync('/run') ? '/run' : tmpdir(), 'cryo-soft-dirty');

const stampOf = (p: ProcId) => path.join(STAMP_DIR, `${p.pid}-${p.start}`);
function readStamp(p: ProcId): string | undefined {
  try {
    return readFileSync(stampOf(p), 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The pages written since the bits were cleared, as sorted, merged ranges, from pagemap runs: those
 * with bit 55 (soft-dirty), and present anonymous pages not mapped by this process alone, the zero
 * page among them (a read after MADV_DONTNEED maps it without the bit, and the parent's bytes are
 * no longer the task's; pagemap shows no PFN to tell it from a page shared with a fork child, which
 * is dumped again too).
 */
export function softDirtyRanges(runs: readonly PageRun[], pageSize: number): Range[] {
  const out: Range[] = [];
  const page = BigInt(pageSize);
  for (const r of runs) {
    if (!r.softDirty && !(r.present && !r.exclusive && !r.file)) continue;
    const end = r.start + BigInt(r.pages) * page;
    const last = out[out.length - 1];
    if (last && last.end === r.start) last.end = end;
    else out.push({ start: r.start, end });
  }
  return out;
}

export class SoftDirtyTracking implements WriteTracking {
  readonly method = 'soft-dirty';
  private readonly procs: Map<number, ProcId>;
  private scan = process.env.CRYO_NO_PAGEMAP_SCAN !== '1';

  /** `prev`: the parent's state (checked by softDirtyFrom), or none for a chain's first dump. */
  constructor(private readonly pageSize: number, private readonly prev?: SoftDirtyState, private readonly prevFile?: string) {
    this.procs = new Map((prev?.procs ?? []).map((p) => [p.pid, p]));
  }

  adopt(): void {
    // Checked again now that the task is frozen: no other chain may clear its bits from here on.
    if (this.prev) {
      for (const p of this.prev.procs) {
        if (startOf(p.pid) === p.start && readStamp(p) !== this.prev.token) throw clearedSince(path.dirname(this.prevFile!), p.pid);
      }
      renameSync(this.prevFile!, `${this.prevFile!}.used`);
    }
  }

  tracked(pid: number): boolean {
    const p = this.procs.get(pid);
    return this.prev !== undefined && p !== undefined && startOf(pid) === p.start;
  }

  writtenSince(pid: number, pagemapFd: number, vmas: readonly DumpVma[]): Map<DumpVma, Range[]> {
    const out = new Map<DumpVma, Range[]>();
    for (const d of vmas) {
      if (!isTrackable(d)) continue;
      out.set(d, this.dirty(pid, pagemapFd, d.vma.start, d.vma.end));
    }
    return out;
  }

  /** The soft-dirty pages of [start, end): PAGEMAP_SCAN where it knows PAGE_IS_SOFT_DIRTY, else pagemap. */
  private dirty(pid: number, pagemapFd: number, start: bigint, end: bigint): Range[] {
    if (this.scan) {
      // The zero page too: mapped by a read after MADV_DONTNEED, it has no soft-dirty bit, and the
      // parent's bytes are no longer the task's.
      const found = pagemapScanAll(pagemapFd, { start, end, categoryAnyofMask: PAGE_IS_SOFT_DIRTY | PAGE_IS_PFNZERO, returnMask: PAGE_IS_SOFT_DIRTY | PAGE_IS_PFNZERO });
      if (found) return found.map((g) => ({ start: g.start, end: g.end }));
      this.scan = false; // a kernel before 6.7
    }
    return softDirtyRanges(readPageRuns(pid, start, end, { pageSize: this.pageSize }), this.pageSize);
  }

  /** Nothing to do per VMA: the whole mm's bits are cleared in handOver, after the dump's own injections. */
  track(pid: number): void {
    const start = startOf(pid);
    if (start !== undefined) this.procs.set(pid, { pid, start });
  }

  /**
   * The task still frozen, cryo's injected mappings gone (mapping and unmapping next to a VMA can
   * mark it VM_SOFTDIRTY, costing the next dump the whole VMA): clear each process's bits, stamp it.
   */
  handOver(dir: string, procs: readonly number[]): void {
    const token = `${path.resolve(dir)} ${randomUUID()}`;
    const kept = procs.map((pid) => this.procs.get(pid)).filter((p): p is ProcId => p !== undefined && startOf(p.pid) === p.start);
    mkdirSync(STAMP_DIR, { recursive: true, mode: 0o700 });
    sweepStamps();
    for (const p of kept) {
      writeFileSync(procPath(p.pid, 'clear_refs'), '4');
      writeFileSync(stampOf(p), token, { mode: 0o600 });
    }
    const state: SoftDirtyState = { method: 'soft-dirty', token, procs: kept };
    writeFileSync(path.join(dir, TRACK_FILE), JSON.stringify(state, null, 1) + '\n', { mode: 0o600 });
  }

  /** Soft-dirty bits need no removing: they only record writes, and the task never sees them. */
  end(): void { /* nothing to undo */ }
}

/** The tracking a soft-dirty pre-dump left, checked to be alive and the last to clear the bits. */
export function softDirtyFrom(state: SoftDirtyState, file: string, pid: number, pageSize: number): SoftDirtyTracking {
  // takeTracking checked that its first process is `pid`, alive.
  if (readStamp(state.procs[0]!) !== state.token) throw clearedSince(path.dirname(file), pid);
  return new SoftDirtyTracking(pageSize, state, file);
}

function clearedSince(parent: string, pid: number): DumpError {
  return new DumpError('FAILED', `the soft-dirty bits of task ${pid} were cleared since ${parent} (by a later pre-dump of another chain, or its stamp in ${STAMP_DIR} was removed): pre-dump again`);
}

/** Stamps of tasks that are gone. */
function sweepStamps(): void {
  for (const n of readdirSync(STAMP_DIR)) {
    const m = /^(\d+)-(\d+)$/.exec(n);
    if (m && startOf(Number(m[1])) !== m[2]) rmSync(path.join(STAMP_DIR, n), { force: true });
  }
}
