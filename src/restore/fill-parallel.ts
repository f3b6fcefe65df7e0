// A large restore's pages written by several of cryo's threads at once (native/cryo_fill.c: pread
// into a buffer, process_vm_writev into the task). Faulting in the task's fresh memory is most of
// the time, and the task's own injected preadv does it on one core; process_vm_writev faults the
// task's pages from the calling thread, so N threads use N cores. Every mapping that gets pages is
// writable while they are filled (memory.ts maps it so), as the injected preadv needs too.
// The fill blocks Node's main thread, on purpose: that thread is one of the workers, the restore
// around it is synchronous (ptrace requests come from this one thread) and can do nothing else
// until the pages are in, and the service runs one command at a time anyway.

import { closeSync, openSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { native } from '../sys/native.js';
import { writeU32, writeU64 } from '../sys/native-endian.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { reportProgress } from '../progress.js';
import { hex } from './dumped-layout.js';

/** A run of pages: `len` bytes for the task's `addr`, from `file` at byte `off`. */
export interface PageRun {
  file: string;
  off: number;
  addr: bigint;
  len: number;
}

/** Threads at most by default (more cores than this add little: the copies share the memory bus). */
const MAX_THREADS = 8;
/** Below this many bytes the task's own preadv (a stop or two) costs less than starting threads. */
const PARALLEL_MIN_BYTES = 16 << 20;
/** Bytes per native call: progress is reported between calls. */
const SLICE_BYTES = 256 << 20;
const RECORD = 32;

/**
 * How many of cryo's threads fill `total` bytes, 0 for the task's own injected preadv:
 * CRYO_FILL_THREADS when set (any size; not a whole number: an error), else the online CPUs (at most MAX_THREADS) for
 * PARALLEL_MIN_BYTES or more, else 0. One thread of cryo beats the preadv too: its faults come
 * through process_vm_writev, not traps in the task.
 */
export function fillThreads(total: number, env: NodeJS.ProcessEnv = process.env): number {
  const set = env.CRYO_FILL_THREADS;
  if (set !== undefined && set !== '') {
    const n = Number(set);
    if (!Number.isInteger(n) || n < 0) throw new Error(`CRYO_FILL_THREADS=${set} is not a number of threads: set a whole number (0 fills by the task's own preadv) or unset it`);
    return Math.min(n, 64);
  }
  return total >= PARALLEL_MIN_BYTES ? Math.min(availableParallelism(), MAX_THREADS) : 0;
}

/** Writes `runs` (in file order as far as they come so) into the task by `threads` threads; reports progress after `doneBefore` bytes of `total`. */
export function fillParallel(ctx: TaskCtx, runs: readonly PageRun[], threads: number, total: number): void {
  const fileIndex = new Map<string, number>();
  const fds: number[] = [];
  const records = Buffer.alloc(Math.max(1, Math.min(runs.length, 1 << 16)) * RECORD);
  let moved = 0;
  try {
    for (const r of runs) {
      if (!fileIndex.has(r.file)) {
        fileIndex.set(r.file, fds.length);
        fds.push(openSync(r.file, 'r'));
      }
    }
    const fdArray = Int32Array.from(fds);
    let from = 0;
    while (from < runs.length) {
      // One slice: up to SLICE_BYTES and as many records as the buffer holds.
      let n = 0;
      let bytes = 0;
      while (from + n < runs.length && n * RECORD < records.length && (n === 0 || bytes < SLICE_BYTES)) {
        const r = runs[from + n]!;
        const at = n * RECORD;
        writeU64(records, r.addr, at);
        writeU64(records, BigInt(r.off), at + 8);
        writeU64(records, BigInt(r.len), at + 16);
        writeU32(records, fileIndex.get(r.file)!, at + 24);
        bytes += r.len;
        n++;
      }
      const failed = native().fillPages(ctx.pid, fdArray, records, n, threads);
      if (failed !== undefined) throw fillError(ctx, runs[from + failed[1]]!, failed);
      from += n;
      moved += bytes;
      reportProgress('restore', moved, total);
    }
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

function fillError(ctx: TaskCtx, run: PageRun, [what, , at, errno, got]: [number, number, number, number, number]): RestoreError {
  const off = run.off + at;
  if (what === 1) return new RestoreError('FAILED', `${run.file} ends early: read ${got} bytes of pages at byte ${off}, the file has no more`);
  if (what === 2) return new RestoreError('FAILED', `cannot read ${run.file} at byte ${off + got}: errno ${errno}`);
  return new RestoreError('FAILED', `cannot write the pages at ${hex(run.addr + BigInt(at))} into task ${ctx.pid} (${got} bytes written): errno ${errno}`);
}
