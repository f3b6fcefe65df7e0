// One dump failed at a chosen point (CRYO_FAULT=dump:N) and what it changed in the dumped
// processes: the step of the fault sweeps (scripts/fault-sweep.mjs) and of the tests that sample
// their points. The subject is a test program's tree or a real program (real-targets.ts), which
// must answer as it should after every point.
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import path from 'node:path';
import { dump } from '../../src/dump/index.js';
import { faultCount } from '../../src/fault.js';
import type { RealTarget } from './real-targets.js';
import { rng } from './rng.js';

/**
 * What a failed dump must not change in a process: its mappings, its descriptors, and each
 * thread's run state (stopped or not) and tracer; without the lines `churn` matches (what the
 * program changes on its own all the time, such as a file it opens and closes in a loop).
 */
export function processState(pid: number, churn?: RegExp): string {
  const threads = readdirSync(`/proc/${pid}/task`).sort().map((tid) => {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      return `thread ${tid} ${/^State:\s+[tT]/m.test(s) ? 'stopped' : 'runs'} tracer ${/TracerPid:\s+(\d+)/.exec(s)![1]}`;
    } catch {
      return `thread ${tid} gone`;
    }
  });
  // A descriptor closed between the listing and its readlink was open for an instant, the program's
  // own (redis reads /proc/self/stat ten times a second): not state, left out.
  const held = readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try { return [`fd ${fd} ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`]; } catch { return []; }
  }).sort();
  const lines = [...readFileSync(`/proc/${pid}/maps`, 'utf8').trimEnd().split('\n'), ...held, ...threads];
  return (churn ? lines.filter((l) => !churn.test(l)) : lines).join('\n');
}

/**
 * The lines that differ between two processState readings (+ now, - before), a few, short; undefined
 * when none (`newThreadsOwn`: a thread that started meanwhile is no difference).
 */
export function stateDiff(before: string, now: string, newThreadsOwn = false, all?: string[]): string | undefined {
  if (before === now) return undefined;
  const lines = diffLines(before, now, newThreadsOwn);
  all?.push(...lines);
  if (lines.length === 0 && newThreadsOwn) return undefined;
  return lines.slice(0, 4).map((l) => (l.length > 160 ? `${l.slice(0, 160)}...` : l)).join(' | ') || 'the order of lines';
}

/** Every line that differs between two processState readings (+ now, - before); see stateDiff. */
function diffLines(before: string, now: string, newThreadsOwn: boolean): string[] {
  const x = before.split('\n');
  const y = now.split('\n');
  return [...y.filter((l) => !x.includes(l)).map((l) => `+${l}`), ...x.filter((l) => !y.includes(l)).map((l) => `-${l}`)]
    // A dump starts no thread in the task: one that is new, runs and is not traced is the program's own.
    .filter((l) => !(newThreadsOwn && /^\+thread \d+ runs tracer 0$/.test(l)));
}

/** The address range of a mappings line of a diff (`+START-END perms ...`), or undefined for another line. */
const rangeOf = (line: string): string | undefined => /^[+-]([0-9a-f]+-[0-9a-f]+) /.exec(line)?.[1];

/**
 * The mappings `s`'s processes change on their own, with no dump: read every second for `ms`,
 * each range whose line differs from the reading before (an area V8 flips between ---p and rw-p
 * at each scavenge flips back as often).
 */
async function ownMappingChanges(s: SweepSubject, ms: number): Promise<Set<string>> {
  const out = new Set<string>();
  let prev = s.pids.map((p) => processState(p, s.churn));
  for (const end = Date.now() + ms; Date.now() < end;) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = s.pids.map((p) => (existsSync(`/proc/${p}`) ? processState(p, s.churn) : ''));
    now.forEach((st, i) => diffLines(prev[i]!, st, true).forEach((l) => { const r = rangeOf(l); if (r) out.add(r); }));
    prev = now;
  }
  return out;
}

export interface SweepSubject {
  /** The process `cryo dump -t` names. */
  root: number;
  /** A scratch directory for the images. */
  dir: string;
  /** Its processes when the sweep began, the root first. */
  pids: readonly number[];
  /** A real program: it runs on between points (see sweepPoint). */
  real: boolean;
  pidsNow(): number[];
  /** Throws unless it answers as it should (a test program's tree checks itself at its end only). */
  check(): Promise<void>;
  /** Waits until it is at rest (no client connection of a check left). */
  settle(): Promise<void>;
  /** State lines the program changes on its own all the time (see processState). */
  churn?: RegExp;
}

/** Points that were not failed where they were meant to be: the dump was refused first as busy, or had fewer points. */
export interface Tally {
  busy: Set<number>;
  beyond: Set<number>;
  /** Refused (UNSUPPORTED) before their point, by what an earlier dump of the sweep left (an io_uring's personality cursor): the points, by reason. */
  refused: Map<string, number[]>;
  noisy: number[];
  noise: string[];
}

export const newTally = (): Tally => ({ busy: new Set(), beyond: new Set(), refused: new Map(), noisy: [], noise: [] });

export function realSubject(r: RealTarget): SweepSubject {
  return { root: r.prog.pid, dir: r.prog.dir, pids: r.pids(), real: true, pidsNow: () => r.pids(), check: () => r.check(), settle: () => r.settle(), churn: r.churn };
}

/** A dump of `s` failed at point `n`: why it harmed `s` (or did not fail there), or undefined. */
export async function faultedDump(s: SweepSubject, n: number, tally: Tally, all?: string[]): Promise<string | undefined> {
  await s.settle();
  const before = s.pids.map((p) => processState(p, s.churn));
  const dir = path.join(s.dir, `img-${n}`);
  process.env.CRYO_FAULT = `dump:${n}`;
  let why: string | undefined;
  try {
    await dump({ pid: s.root, dir, leaveRunning: true });
    if (s.real && (faultCount('dump') ?? 0) < n) tally.beyond.add(n);
    else why = 'the dump succeeded';
  } catch (e) {
    const { code, message } = e as { code?: string; message: string };
    if (code === 'BUSY') tally.busy.add(n);
    else if (s.real && code === 'UNSUPPORTED' && /an earlier dump of this ring/.test(message)) {
      const reason = message.replace(/\d+/g, 'N').slice(0, 200);
      tally.refused.set(reason, [...(tally.refused.get(reason) ?? []), n]);
    } else if (!new RegExp(`fault injected at dump point ${n} \\(`).test(message)) why = `failed otherwise: ${message}`;
  } finally {
    delete process.env.CRYO_FAULT;
  }
  s.pids.forEach((p, i) => {
    const d = existsSync(`/proc/${p}`) ? stateDiff(before[i]!, processState(p, s.churn), s.real, all) : 'it is gone';
    if (d) why ??= `process ${p} changed: ${d}`;
  });
  if (s.real && String(s.pidsNow()) !== String(s.pids)) why ??= `its processes changed: ${s.pids.join(' ')} -> ${s.pidsNow().join(' ')}`;
  if (existsSync(path.join(dir, 'inventory.img'))) why ??= 'inventory.img was left';
  rmSync(dir, { recursive: true, force: true });
  try {
    await s.check();
  } catch (e) {
    why ??= `the program's check failed: ${(e as Error).message}`;
  }
  return why;
}

/**
 * faultedDump, where a real program changes its own mappings and threads as it runs (malloc's
 * arenas, a runtime's threads): a change that is not a stopped or traced thread counts as harm
 * only if the same point changes the program again, twice more (else it is in `tally.noisy`, and
 * what changed in `tally.noise`), and not if every change of the three is of a mapping the program
 * changes on its own as often, with no dump (read as long as the three dumps took: node's V8 flips
 * its young generation's areas between ---p and rw-p at each scavenge, under load several times a
 * dump; node with io_uring's point 347 counted so once, session 23).
 */
export async function sweepPoint(s: SweepSubject, n: number, tally: Tally): Promise<string | undefined> {
  const t0 = Date.now();
  const all: string[] = [];
  const why = await faultedDump(s, n, tally, all);
  if (!s.real || !why || !/ changed: /.test(why) || / stopped | tracer [1-9]/.test(why)) return why;
  const again = [await faultedDump(s, n, tally, all), await faultedDump(s, n, tally, all)];
  if (!again.includes(undefined)) {
    if (again.some((w) => !/ changed: /.test(w!)) || all.some((l) => rangeOf(l) === undefined)) return why;
    const own = await ownMappingChanges(s, Math.min(Date.now() - t0, 180_000));
    if (!all.every((l) => own.has(rangeOf(l)!))) return why;
    tally.noise.push(`point ${n}: ${why} (three times, each a mapping the program changes as often with no dump)`);
  } else {
    tally.noise.push(`point ${n}: ${why} (not again on a retry: the program's own change)`);
  }
  tally.noisy.push(n);
  return undefined;
}

/** One point from each of `n` equal stretches of 1..count (seeded), the last point included, in order. */
export function spread(count: number, n: number, seed: number): number[] {
  const r = rng(seed);
  const out = new Set<number>([count]);
  for (let i = 0; i < n; i++) out.add(1 + Math.floor(((i + r()) * count) / n));
  return [...out].sort((a, b) => a - b);
}

/** The points of a dump of `s` (that succeeds, leaving it running), as CRYO_FAULT_TRACE lists them. */
export async function dumpPointsOf(s: SweepSubject): Promise<string[]> {
  const trace = path.join(s.dir, 'points');
  rmSync(trace, { force: true });
  process.env.CRYO_FAULT_TRACE = trace;
  try {
    await dump({ pid: s.root, dir: path.join(s.dir, 'count'), leaveRunning: true });
  } finally {
    delete process.env.CRYO_FAULT_TRACE;
    rmSync(path.join(s.dir, 'count'), { recursive: true, force: true });
  }
  return readFileSync(trace, 'utf8').trim().split('\n');
}
