// The migration freeze (issue 14): a task writing 5% of its memory a second is moved by `cryo
// migrate --lazy-pages` (pre-dumps to a page server on loopback until they stop shrinking, the final
// dump, the restore; the pages, the pre-dumps' too, then come from cryo lazy-pages while it runs), and the task itself says how long its last freeze was: the largest gap in its
// CLOCK_MONOTONIC loop since migrate's network-lock action (just before the final dump; the action
// script resets the task's gap with SIGUSR1), from its last instruction at the source to its first
// at the destination.
import { spawn, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { benchBuildDir, bin, cryoCli, workDir } from './paths.js';
import { summarize, type Summary } from './stats.js';
import { Task, killPid, stopRestored } from './task.js';

const MiB = 1024 ** 2;
export const MIGRATIONS: readonly { name: string; bytes: number; byDefault: boolean }[] = [
  { name: 'migrate-256m', bytes: 256 * MiB, byDefault: true },
  { name: 'migrate-1g', bytes: 1024 * MiB, byDefault: true },
  { name: 'migrate-4g', bytes: 4096 * MiB, byDefault: false },
];
/** The target for the freeze, ms. */
export const FREEZE_TARGET_MS = 150;

export interface MigrationResult {
  name: string;
  bytes: number;
  /** The task's last freeze (its own clock), ms. */
  freezeMs: Summary | null;
  /** What cryo migrate itself measured: from its dump's seize to the restored task running. */
  cryoFrozenMs: Summary | null;
  /** The whole `cryo migrate`, ms. */
  totalMs: Summary | null;
  /** The first pre-dump (every page of the task), MiB/s: pages over its whole step (Node starts, page server, send). */
  preDumpMiBs: Summary | null;
  /** The machine's floor in the same run (floor-write: the task's bytes into a new file from a warm buffer), MiB/s. */
  floorMiBs: Summary | null;
  /** The last run's lines from cryo migrate (pre-dump pages, dump, restore). */
  steps: string[];
  notes: string[];
}

function cryoMigrate(args: string[]): Promise<{ code: number; out: string; err: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [cryoCli, 'migrate', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('close', (code) => resolve({ code: code ?? -1, out, err, ms: performance.now() - t0 }));
  });
}

const PAGE_SIZE = Number(spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).stdout.trim()) || 4096;

/** floor-write of `bytes` into a new file, MiB/s (undefined when it failed). */
function floorWriteMiBs(bytes: number): number | undefined {
  const file = path.join(workDir, 'migrate-floor.img');
  rmSync(file, { force: true });
  const r = spawnSync(bin('floor-write'), [file, String(bytes)], { encoding: 'utf8' });
  rmSync(file, { force: true });
  if (r.status !== 0) return undefined;
  return bytes / MiB / (Number(r.stdout.trim()) / 1e9);
}

export async function runMigration(m: { name: string; bytes: number }, runs: number, port: number): Promise<MigrationResult> {
  const freeze: number[] = [];
  const cryoFrozen: number[] = [];
  const total: number[] = [];
  const preDump: number[] = [];
  const floorRate: number[] = [];
  const notes: string[] = [];
  let steps: string[] = [];
  const report = path.join(benchBuildDir, 'task-report.txt');
  for (let i = 0; i < runs; i++) {
    const dir = path.join(workDir, 'migrate');
    rmSync(dir, { recursive: true, force: true });
    const task = await Task.start(report, ['dirty', String(m.bytes), '5']);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const script = path.join(dir, 'reset-gap.sh');
      writeFileSync(script, `#!/bin/sh\n[ "$CRTOOLS_SCRIPT_ACTION" = network-lock ] && kill -USR1 ${task.pid}\nexit 0\n`, { mode: 0o700 });
      const r = await cryoMigrate(['-t', String(task.pid), '-D', path.join(dir, 'src'), '--dest-dir', path.join(dir, 'dst'), '--address', '127.0.0.1', '--port', String(port), '--action-script', script, '--lazy-pages']);
      if (r.code !== 0) {
        notes.push(`run ${i + 1}: ${r.err.trim().split('\n').pop()}`);
        await killPid(task.pid);
        continue;
      }
      steps = r.out.trim().split('\n');
      const first = /pre-dump 1: (\d+) pages in (\d+) ms/.exec(r.out);
      if (first) preDump.push((Number(first[1]) * PAGE_SIZE) / MiB / (Number(first[2]) / 1000));
      const done = await stopRestored(task.pid, report);
      if (!done.ok) { notes.push(`run ${i + 1}: the migrated task found its memory changed`); continue; }
      freeze.push(done.maxGapMs);
      const f = /frozen (\d+) ms/.exec(r.out);
      if (f) cryoFrozen.push(Number(f[1]));
      total.push(r.ms);
      // Each run's parts of the freeze (the steps shown are the last run's): an outlier says where it went.
      const parts = /frozen \d+ ms \((.*)\)$/m.exec(r.out)?.[1];
      if (parts) notes.push(`run ${i + 1}: freeze ${done.maxGapMs.toFixed(0)} ms; cryo's ${parts}`);
      process.stderr.write(`bench: ${m.name} run ${i + 1}/${runs}: freeze ${done.maxGapMs.toFixed(1)} ms (cryo: ${f?.[1] ?? '-'} ms), migrate ${r.ms.toFixed(0)} ms\n`);
    } finally {
      await task.kill();
      rmSync(dir, { recursive: true, force: true });
    }
    const fl = floorWriteMiBs(m.bytes);
    if (fl !== undefined) floorRate.push(fl);
  }
  return {
    name: m.name, bytes: m.bytes, freezeMs: summarize(freeze), cryoFrozenMs: summarize(cryoFrozen), totalMs: summarize(total),
    preDumpMiBs: summarize(preDump), floorMiBs: summarize(floorRate), steps, notes,
  };
}

const ms = (s: Summary | null) => (s === null ? '-' : s.n > 1 ? `${s.median.toFixed(0)} (${s.min.toFixed(0)}-${s.max.toFixed(0)})` : s.median.toFixed(0));

export function renderMigrations(rs: readonly MigrationResult[]): string {
  const lines = ['', `Migration freeze (cryo migrate --lazy-pages over loopback, the task writing 5% of its memory a second; target ≤ ${FREEZE_TARGET_MS} ms):`];
  for (const r of rs) {
    const met = r.freezeMs === null ? 'not measured' : r.freezeMs.median <= FREEZE_TARGET_MS ? 'met' : 'not met';
    lines.push(`  ${r.name}: freeze ${ms(r.freezeMs)} ms (task's clock; cryo's own ${ms(r.cryoFrozenMs)} ms), whole migrate ${ms(r.totalMs)} ms: ${met}`);
    const ratio = r.preDumpMiBs && r.floorMiBs ? ` = ${(r.preDumpMiBs.median / r.floorMiBs.median).toFixed(2)}x the floor` : '';
    lines.push(`    first pre-dump ${ms(r.preDumpMiBs)} MiB/s, floor (floor-write, same run) ${ms(r.floorMiBs)} MiB/s${ratio}`);
    for (const s of r.steps) lines.push(`    ${s}`);
    for (const n of r.notes) lines.push(`    ${n}`);
  }
  return lines.join('\n');
}
