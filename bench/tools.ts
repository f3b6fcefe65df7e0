// The tools the bench measures: cryo (its CLI, so Node's start is counted), the floor (what the
// machine can do at best), gcore (dump only) and CRIU (version 4 or later only).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { release } from 'node:os';
import path from 'node:path';
import { lastLine, runStat, type RunStat } from './exec.js';
import { benchBuildDir, bin, cryoCli } from './paths.js';
import type { ToolInfo, ToolName } from './report.js';

export interface DumpOutcome {
  ok: boolean;
  ms: number;
  peakRssBytes: number;
  /** The tool's one-line error when !ok. */
  error?: string;
}

export interface Tool {
  name: ToolName;
  /** The floor needs no task: it writes and reads the task's number of bytes itself. */
  needsTask: boolean;
  dump(pid: number, dir: string, bytes: number): DumpOutcome;
  restore?(dir: string): DumpOutcome;
}

const TIMEOUT_S = 300;

function outcome(r: RunStat, name: string): DumpOutcome {
  if (r.exit === 0) return { ok: true, ms: r.wallMs, peakRssBytes: r.maxRssBytes };
  const why = r.exit === 137 ? `killed after ${TIMEOUT_S} s` : lastLine(r.stderr) || lastLine(r.stdout) || `${name} exited ${r.exit}`;
  return { ok: false, ms: r.wallMs, peakRssBytes: r.maxRssBytes, error: why };
}

/** Finds a program on PATH (no shell). */
export function which(name: string): string | null {
  for (const d of (process.env.PATH ?? '').split(':')) {
    const p = path.join(d || '.', name);
    try {
      if (statSync(p).isFile()) return p;
    } catch { /* next */ }
  }
  return null;
}

export const cryo: Tool = {
  name: 'cryo',
  needsTask: true,
  dump(pid, dir) {
    return outcome(runStat(process.execPath, [cryoCli, 'dump', '-t', String(pid), '-D', dir, '--leave-running'], { timeoutS: TIMEOUT_S }), 'cryo');
  },
  restore(dir) {
    return outcome(runStat(process.execPath, [cryoCli, 'restore', '-D', dir, '-d'], { timeoutS: TIMEOUT_S }), 'cryo');
  },
};

/**
 * cryo through a running `cryo service` (started once by the bench, before the timed runs): the
 * native client (build/cryo, the package's bin) sends it the same command line. Its peak memory is
 * the client's: the service's own is not in the table.
 */
export function cryoService(client: string, sock: string): Tool {
  const env = { CRYO_SERVICE: sock };
  return {
    name: 'cryo-svc',
    needsTask: true,
    dump(pid, dir) {
      return outcome(runStat(client, ['dump', '-t', String(pid), '-D', dir, '--leave-running'], { timeoutS: TIMEOUT_S, env }), 'cryo-svc');
    },
    restore(dir) {
      return outcome(runStat(client, ['restore', '-D', dir, '-d'], { timeoutS: TIMEOUT_S, env }), 'cryo-svc');
    },
  };
}

/** The floor: write the bytes from a warm buffer into a new file; map fresh memory and read them back. */
export const floor: Tool = {
  name: 'floor',
  needsTask: false,
  dump(_pid, dir, bytes) {
    const r = runStat(bin('floor-write'), [path.join(dir, 'floor.img'), String(bytes)], { timeoutS: TIMEOUT_S });
    const o = outcome(r, 'floor-write');
    return o.ok ? { ...o, ms: Number(r.stdout.trim()) / 1e6 } : o;
  },
  restore(dir) {
    const r = runStat(bin('floor-read'), [path.join(dir, 'floor.img')], { timeoutS: TIMEOUT_S });
    const o = outcome(r, 'floor-read');
    return o.ok ? { ...o, ms: Number(r.stdout.trim()) / 1e6 } : o;
  },
};

function gcoreTool(exe: string): Tool {
  return {
    name: 'gcore',
    needsTask: true,
    dump(pid, dir) {
      return outcome(runStat(exe, ['-o', path.join(dir, 'core'), String(pid)], { timeoutS: TIMEOUT_S }), 'gcore');
    },
  };
}

/** CRIU logs into the image directory: its last "Error" line says why it failed. */
function criuOutcome(r: RunStat, log: string): DumpOutcome {
  const o = outcome(r, 'criu');
  if (o.ok) return o;
  try {
    // The first error says why; the last is only "Restoring FAILED".
    const lines = readFileSync(log, 'utf8').split('\n');
    const errors = lines.filter((l) => l.startsWith('Error') && !/RLIMIT_NOFILE|FAILED\.$/.test(l));
    if (errors.length > 0) o.error = errors[0]!;
    if (process.env.CRYO_BENCH_KEEP_LOGS) copyFileSync(log, path.join(benchBuildDir, `failed-${path.basename(log)}`));
  } catch { /* no log */ }
  return o;
}

function criuTool(exe: string): Tool {
  return {
    name: 'criu',
    needsTask: true,
    dump(pid, dir) {
      const r = runStat(exe, ['dump', '-t', String(pid), '-D', dir, '--leave-running', '-o', 'dump.log'], { timeoutS: TIMEOUT_S });
      return criuOutcome(r, path.join(dir, 'dump.log'));
    },
    restore(dir) {
      const r = runStat(exe, ['restore', '-D', dir, '-d', '-o', 'restore.log'], { timeoutS: TIMEOUT_S });
      return criuOutcome(r, path.join(dir, 'restore.log'));
    },
  };
}

/** "4.2" from `criu --version` ("Version: 4.2"). */
export function parseCriuVersion(text: string): [number, number] | null {
  const m = /Version:\s*(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

function kernelAtLeast(major: number, minor: number): boolean {
  const [a, b] = release().split('.').map((x) => parseInt(x, 10));
  return a! > major || (a === major && b! >= minor);
}

export function detectCriu(): { tool: Tool | null; info: ToolInfo } {
  const exe = process.env.CRYO_BENCH_CRIU || which('criu');
  const hint = 'put a criu of version 4 or later on PATH or name it in CRYO_BENCH_CRIU';
  if (!exe || !existsSync(exe)) return { tool: null, info: { name: 'criu', available: false, note: `no criu found: ${hint}` } };
  const p = spawnSync(exe, ['--version'], { encoding: 'utf8' });
  const v = parseCriuVersion(`${p.stdout}${p.stderr}`);
  if (!v) return { tool: null, info: { name: 'criu', available: false, note: `${exe} --version says no version: ${hint}` } };
  const version = `${v[0]}.${v[1]} at ${exe}`;
  if (v[0] < 4) {
    const why = kernelAtLeast(6, 13) ? `; it does not run on kernels 6.13 and later (this is ${release()})` : '';
    return { tool: null, info: { name: 'criu', available: false, version, note: `too old, version 4 or later needed${why}: ${hint}` } };
  }
  return { tool: criuTool(exe), info: { name: 'criu', available: true, version } };
}

export function detectGcore(): { tool: Tool | null; info: ToolInfo } {
  const exe = which('gcore');
  if (!exe) return { tool: null, info: { name: 'gcore', available: false, note: 'gcore not found (Debian: apt install gdb)' } };
  return { tool: gcoreTool(exe), info: { name: 'gcore', available: true, version: exe } };
}

/** core-PID.img files in a CRIU-format image directory: one per thread, so one per process in a tree of single-threaded ones. */
export function coreImages(dir: string): number {
  return readdirSync(dir).filter((f) => /^core-\d+\.img$/.test(f)).length;
}

/** Bytes of the image files (logs left out). */
export function imageBytes(dir: string): number {
  let sum = 0;
  for (const f of readdirSync(dir)) if (!f.endsWith('.log')) sum += statSync(path.join(dir, f)).size;
  return sum;
}
