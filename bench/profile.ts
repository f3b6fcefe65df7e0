// node dist/bench/profile.js [WORKLOAD]: where cryo's time goes for one workload (default anon-1g).
// Runs cryo's CLI once for dump (--leave-running) and restore (-d) with -v and --cpu-prof: prints
// the time between its stage events as seen from outside, and the functions with the most self time.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { selfTimes, type CpuProfile } from './cpu-profile.js';
import { benchBuildDir, cryoCli, workDir } from './paths.js';
import { buildPrograms, precondition } from './programs.js';
import { Task, stopRestored } from './task.js';
import { WORKLOADS } from './workloads.js';

/** Runs cryo with -v; returns [stage, ms since start] for each stage line and the end. */
function stages(args: string[], profDir: string): Promise<[string, number][]> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const out: [string, number][] = [['start', 0]];
    const p = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, cryoCli, ...args, '-v'], { stdio: ['ignore', 'inherit', 'pipe'] });
    let buf = '';
    p.stderr.on('data', (d: Buffer) => {
      const now = performance.now() - t0;
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) out.push([l.replace(/^cryo: /, ''), now]);
    });
    p.on('error', reject);
    p.on('exit', (code) => {
      out.push([`exit ${code}`, performance.now() - t0]);
      resolve(out);
    });
  });
}

function print(title: string, st: [string, number][], profDir: string): void {
  process.stdout.write(`\n${title}: ${st[st.length - 1]![1].toFixed(0)} ms\n`);
  for (let i = 0; i + 1 < st.length; i++) {
    process.stdout.write(`  ${st[i]![0].padEnd(28)} ${(st[i + 1]![1] - st[i]![1]).toFixed(1).padStart(8)} ms\n`);
  }
  const f = readdirSync(profDir).find((n) => n.endsWith('.cpuprofile'));
  if (!f) return;
  const top = selfTimes(JSON.parse(readFileSync(path.join(profDir, f), 'utf8')) as CpuProfile).slice(0, 15);
  process.stdout.write(`  self time (--cpu-prof, ${path.join(profDir, f)}):\n`);
  for (const t of top) process.stdout.write(`    ${t.ms.toFixed(1).padStart(8)} ms  ${t.fn}\n`);
}

async function main(): Promise<void> {
  const name = process.argv[2] ?? 'anon-1g';
  const wl = WORKLOADS.find((w) => w.name === name);
  if (!wl) throw new Error(`no workload ${name}: choose from ${WORKLOADS.map((w) => w.name).join(', ')}`);
  buildPrograms();
  const dir = path.join(workDir, 'profile');
  const prof = path.join(benchBuildDir, 'prof');
  rmSync(dir, { recursive: true, force: true });
  rmSync(prof, { recursive: true, force: true });
  mkdirSync(path.join(prof, 'dump'), { recursive: true });
  mkdirSync(path.join(prof, 'restore'), { recursive: true });
  const report = path.join(benchBuildDir, 'task-report.txt');
  const task = await Task.start(report, wl.args);
  try {
    precondition(task.rssAnon); // as the bench: the page cache then takes recently freed memory, not the host's
    print(`cryo dump ${name}`, await stages(['dump', '-t', String(task.pid), '-D', dir, '--leave-running'], path.join(prof, 'dump')), path.join(prof, 'dump'));
    await task.stop();
    precondition(task.rssAnon);
    print(`cryo restore ${name}`, await stages(['restore', '-D', dir, '-d'], path.join(prof, 'restore')), path.join(prof, 'restore'));
    const done = await stopRestored(task.pid, report);
    process.stdout.write(`\nrestored task's memory check: ${done.ok ? 'ok' : 'FAILED'}\n`);
  } finally {
    await task.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench profile: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
