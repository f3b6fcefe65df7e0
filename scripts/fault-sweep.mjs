#!/usr/bin/env node
// Walks every fault point of a dump of a test program's tree (issue 15): for N = 1..count, a dump
// with CRYO_FAULT=dump:N must fail at point N and leave every process of the tree as it was (same
// mappings, same descriptors, not traced) and no inventory.img; at the end the program's own check
// must print PASS. Prints "dump: S of N points survived" and one line per point that was not.
// usage (after npm run build and node scripts/build-test-programs.mjs):
//   node scripts/fault-sweep.mjs [PROGRAM] [FIRST] [LAST]      (PROGRAM defaults to fault-tree)
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const { dump } = await import(path.join(root, 'src/dump/index.js'));
const { faultCount } = await import(path.join(root, 'src/fault.js'));
const { startTarget } = await import(path.join(root, 'test/helpers/dump-target.js'));

const [program = 'fault-tree', firstArg, lastArg] = process.argv.slice(2);

/** The tree under `pid` (itself first), from /proc's children lists. */
function treeOf(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    for (const tid of readdirSync(`/proc/${out[i]}/task`)) {
      out.push(...readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    }
  }
  return out;
}

/** What a dump must not change in a process: its mappings, its descriptors, and no tracer. */
function state(pid) {
  const fds = readdirSync(`/proc/${pid}/fd`).map((fd) => `${fd} ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`).sort();
  const tracer = /TracerPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1];
  return `${readFileSync(`/proc/${pid}/maps`, 'utf8')}\nfds: ${fds.join(', ')}\ntracer: ${tracer}`;
}

const t = startTarget(program);
const pids = treeOf(t.pid);
const before = pids.map(state);
const bad = [];
let count = 0;
try {
  await dump({ pid: t.pid, dir: path.join(t.dir, 'count'), leaveRunning: true });
  count = faultCount('dump');
  const first = Number(firstArg ?? 1);
  const last = Math.min(Number(lastArg ?? count), count);
  const t0 = Date.now();
  for (let n = first; n <= last; n++) {
    const dir = path.join(t.dir, `img-${n}`);
    process.env.CRYO_FAULT = `dump:${n}`;
    let why;
    try {
      await dump({ pid: t.pid, dir, leaveRunning: true });
      why = 'the dump succeeded';
    } catch (e) {
      if (!new RegExp(`fault injected at dump point ${n} \\(`).test(e.message)) why = `failed otherwise: ${e.message}`;
    } finally {
      delete process.env.CRYO_FAULT;
    }
    pids.forEach((p, i) => {
      const now = state(p);
      if (now !== before[i]) why ??= `process ${p} changed: ${diff(before[i], now)}`;
    });
    if (existsSync(path.join(dir, 'inventory.img'))) why ??= 'inventory.img was left';
    rmSync(dir, { recursive: true, force: true });
    if (why) {
      bad.push(n);
      console.log(`point ${n}: ${why}`);
    }
    if ((n - first) % 50 === 49) console.error(`... ${n} of ${last} (${Math.round((Date.now() - t0) / 1000)} s)`);
  }
  console.log(`dump of ${program} (${pids.length} processes): ${last - first + 1 - bad.length} of ${last - first + 1} points survived (points ${first}..${last} of ${count})`);
} finally {
  delete process.env.CRYO_FAULT;
  const verdict = t.finish();
  for (const p of pids.slice(1)) { try { process.kill(p, 'SIGKILL'); } catch { /* ended */ } }
  t.cleanup();
  console.log(`${program}'s own check after the sweep: ${verdict}`);
  if (verdict !== 'PASS' || bad.length > 0) process.exitCode = 1;
}

function diff(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  return [...y.filter((l) => !x.includes(l)).map((l) => `+${l}`), ...x.filter((l) => !y.includes(l)).map((l) => `-${l}`)].slice(0, 4).map((l) => (l.length > 160 ? `${l.slice(0, 160)}...` : l)).join(' | ');
}
