// npm run bench [-- --runs N] [--quick] [--only NAME[,NAME]] [--json FILE]
// (NAME: a workload, or a migration: migrate-256m, migrate-1g, migrate-4g; see migrate.ts)
//
// For each workload and tool, interleaved run by run: start the task, precondition, dump (the
// task left running, so it can tell how long it was frozen), stop it, precondition, restore,
// check the restored task's memory, clean up. Prints the table and writes the JSON.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runStat } from './exec.js';
import { benchBuildDir, cryoCli, repoRoot, workDir } from './paths.js';
import { PRECONDITION_NOTE, buildPrograms, precondition } from './programs.js';
import { judgeTargets, renderReport, toolResult, type BenchReport, type Sample, type ToolInfo, type WorkloadResult } from './report.js';
import { summarize } from './stats.js';
import { Task, killPid, stopRestored } from './task.js';
import { coreImages, cryo, cryoService, detectCriu, detectGcore, floor, imageBytes, type Tool } from './tools.js';
import { WORKLOADS, type Workload } from './workloads.js';
import { MIGRATIONS, renderMigrations, runMigration, type MigrationResult } from './migrate.js';

function isUnsupported(tool: Tool, error: string): boolean {
  return (tool.name === 'cryo' || tool.name === 'cryo-svc') && /cannot|not supported|unsupported|only|yet/i.test(error);
}

async function runOnce(tool: Tool, wl: Workload, taskBytes: number): Promise<Sample & { unsupported?: boolean }> {
  const dir = path.join(workDir, tool.name);
  rmSync(dir, { recursive: true, force: true });
  if (!tool.name.startsWith('cryo')) mkdirSync(dir, { recursive: true, mode: 0o700 }); // cryo makes its own (0700)
  const report = path.join(benchBuildDir, 'task-report.txt');
  const s: Sample & { unsupported?: boolean } = {};
  let task: Task | undefined;
  try {
    if (tool.needsTask) task = await Task.start(report, wl.args);
    precondition(taskBytes);
    await task?.resetGap();
    const d = tool.dump(task?.pid ?? 0, dir, taskBytes);
    s.peakRssBytes = d.peakRssBytes;
    if (!d.ok) {
      s.unsupported = isUnsupported(tool, d.error ?? '');
      s.note = `${s.unsupported ? 'unsupported' : 'dump failed'}: ${d.error}`;
      return s;
    }
    // A tool that saved fewer processes than the tree has did not dump the task (threads have cores too: trees only).
    if (wl.processes && (tool.name.startsWith('cryo') || tool.name === 'criu') && coreImages(dir) < wl.processes) {
      s.unsupported = tool.name.startsWith('cryo');
      s.note = `dumped ${coreImages(dir)} of the tree's ${wl.processes} processes`;
      return s;
    }
    s.dumpMs = d.ms;
    s.imageBytes = imageBytes(dir);
    if (task) {
      const done = await task.stop();
      s.frozenMs = done.maxGapMs;
      if (!done.ok) s.note = 'the task found its memory changed after the dump';
    }
    if (!tool.restore) return s;
    precondition(taskBytes);
    const r = tool.restore(dir);
    s.peakRssBytes = Math.max(s.peakRssBytes, r.peakRssBytes);
    if (!r.ok) {
      s.note = `${isUnsupported(tool, r.error ?? '') ? 'restore unsupported' : 'restore failed'}: ${r.error}`;
      if (task) await killPid(task.pid);
      return s;
    }
    if (task) {
      const done = await stopRestored(task.pid, report);
      if (!done.ok) {
        s.note = 'the restored task found its memory changed (restore time not counted)';
        return s;
      }
    }
    s.restoreMs = r.ms;
    if (tool.name === 'gcore' && wl.args[0] === 'tree') s.note = 'gcore dumps the root process only';
    return s;
  } catch (e) {
    s.note = `bench error: ${(e as Error).message}`;
    return s;
  } finally {
    if (task) await task.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' }, quick: { type: 'boolean' }, only: { type: 'string', multiple: true },
      json: { type: 'string' }, tools: { type: 'string' }, help: { type: 'boolean', short: 'h' }, 'no-service': { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`usage: npm run bench -- [--runs N] [--quick] [--only NAME[,NAME...]] [--json FILE] [--no-service] [--tools NAME[,NAME...]]\nworkloads: ${[...WORKLOADS, ...MIGRATIONS].map((w) => w.name).join(', ')}\n`);
    return;
  }
  const runs = values.runs !== undefined ? Number(values.runs) : values.quick ? 1 : 3;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs wants a positive integer, not ${values.runs}`);
  const only = (values.only ?? []).flatMap((o) => o.split(',')).filter((o) => o);
  const names = [...WORKLOADS, ...MIGRATIONS].map((w) => w.name);
  const unknown = only.filter((o) => !names.includes(o));
  if (unknown.length > 0) throw new Error(`no workload ${unknown.join(', ')}: choose from ${names.join(', ')}`);
  const wanted = values.tools?.split(',').filter((t) => t); // fewer tools: a 4 GiB run with all of them takes ~7.5 min
  const unknownTools = wanted?.filter((w) => !['floor', 'cryo', 'cryo-svc', 'gcore', 'criu'].includes(w)) ?? [];
  if (unknownTools.length > 0) throw new Error(`no tool ${unknownTools.join(', ')}: choose from floor, cryo, cryo-svc, gcore, criu`);
  const selected = WORKLOADS.filter((w) => (only.length > 0 ? only.includes(w.name) : !values.quick || w.quick));
  const migrations = MIGRATIONS.filter((m) => (only.length > 0 ? only.includes(m.name) : !values.quick && m.byDefault));

  buildPrograms();
  mkdirSync(workDir, { recursive: true });
  const gcore = detectGcore();
  const criu = detectCriu();
  const infos: ToolInfo[] = [
    { name: 'floor', available: true, note: 'write from a warm buffer to a new file; read a file into fresh anonymous memory' },
    { name: 'cryo', available: true, version: `CLI ${path.relative(process.cwd(), cryoCli)}` },
    gcore.info, criu.info,
  ];
  // cryo through its service: started once here, before any timed run (its start is reported apart).
  const svc = values['no-service'] ? undefined : await startService();
  if (svc) infos.splice(2, 0, { name: 'cryo-svc', available: true, version: `client ${path.relative(process.cwd(), svc.client)} -> cryo service at ${path.relative(process.cwd(), svc.sock)}` });
  const tools = [floor, cryo, svc?.tool ?? null, gcore.tool, criu.tool].filter((t): t is Tool => t !== null && (!wanted || wanted.includes(t.name)));
  for (const i of infos) if (!i.available) process.stderr.write(`bench: ${i.name} skipped: ${i.note}\n`);

  const nodeMs: number[] = [];
  const cliMs: number[] = [];
  const clientMs: number[] = [];
  const workloads: WorkloadResult[] = [];
  for (const wl of selected) {
    const probe = await Task.start(path.join(benchBuildDir, 'task-report.txt'), wl.args);
    const taskBytes = probe.rssAnon;
    await probe.stop();
    const samples = new Map<string, (Sample & { unsupported?: boolean })[]>(tools.map((t) => [t.name, []]));
    for (let i = 0; i < runs; i++) {
      nodeMs.push(runStat(process.execPath, ['-e', '0']).wallMs);
      cliMs.push(runStat(process.execPath, [cryoCli, '--help']).wallMs);
      if (svc) clientMs.push(runStat(svc.client, ['--help'], { env: { CRYO_SERVICE: svc.sock } }).wallMs);
      const order = tools.map((_, k) => tools[(k + i) % tools.length]!); // interleaved, rotating
      for (const t of order) {
        const s = await runOnce(t, wl, taskBytes);
        samples.get(t.name)!.push(s);
        process.stderr.write(`bench: ${wl.name} run ${i + 1}/${runs} ${t.name}: dump ${s.dumpMs?.toFixed(0) ?? '-'} ms, frozen ${s.frozenMs?.toFixed(1) ?? '-'} ms, restore ${s.restoreMs?.toFixed(0) ?? '-'} ms${s.note ? ` (${s.note})` : ''}\n`);
      }
    }
    const floorResult = toolResult('floor', samples.get('floor')!, undefined);
    const results = tools.map((t) => (t === floor ? floorResult : toolResult(t.name, samples.get(t.name)!, floorResult, samples.get(t.name)!.some((s) => s.unsupported))));
    workloads.push({ name: wl.name, description: wl.description, taskBytes, results });
  }

  svc?.stop();
  const migrated: MigrationResult[] = [];
  for (const m of migrations) migrated.push(await runMigration(m, runs, 7390));

  const rep: BenchReport = {
    schema: 'cryo-bench/1',
    date: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: { kernel: release(), cpus: cpus().length, memBytes: totalmem(), node: process.version },
    runs,
    method: {
      preconditioning: `before every timed dump and restore, of every tool and reference: ${PRECONDITION_NOTE}; tools interleaved, order rotating per run`,
      frozen: 'from the task: the largest gap in its own CLOCK_MONOTONIC loop (~100 us ticks) during a dump that leaves it running',
      peakMemory: "the tool process's ru_maxrss (wait4), larger of dump and restore",
      cryo: 'the CLI (node dist/cryo-cli.cjs dump --leave-running / restore -d): Node\'s start is counted; cryo-svc: the same command line through build/cryo and a cryo service started before the runs',
    },
    tools: infos,
    startup: { nodeMs: summarize(nodeMs), cryoCliMs: summarize(cliMs), ...(svc ? { serviceMs: svc.startMs, clientMs: summarize(clientMs) } : {}) },
    workloads,
    targets: judgeTargets(workloads),
    migrations: migrated,
  };
  const jsonFile = values.json ?? path.join(benchBuildDir, 'latest.json');
  writeFileSync(jsonFile, JSON.stringify(rep, null, 2) + '\n');
  process.stdout.write(renderReport(rep) + (migrated.length > 0 ? `\n${renderMigrations(migrated)}` : '') + `\n\nJSON: ${path.relative(process.cwd(), jsonFile)}\n`);
}

/** `cryo service` at build/bench/work/svc, up and listening; how long that took. */
async function startService(): Promise<{ tool: Tool; client: string; sock: string; startMs: number; stop(): void } | undefined> {
  const client = path.join(repoRoot, 'build', 'cryo');
  if (!existsSync(client)) {
    process.stderr.write(`bench: cryo-svc skipped: no ${client} (npm run build)\n`);
    return undefined;
  }
  const sock = path.join(workDir, 'svc', 'service.sock');
  const t0 = performance.now();
  const child = spawn(process.execPath, [cryoCli, 'service', '--address', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => { log += d.toString(); if (/listening at/.test(log)) resolve(); });
    child.once('exit', (code) => reject(new Error(`cryo service exited ${code}: ${log.trim()}`)));
  });
  const startMs = performance.now() - t0;
  child.stderr!.resume();
  return { tool: cryoService(client, sock), client, sock, startMs, stop: () => { child.kill('SIGTERM'); } };
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
