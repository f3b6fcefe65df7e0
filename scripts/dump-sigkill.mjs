#!/usr/bin/env node
// SIGKILL of cryo dump cannot be caught (issue 15): this measures how often it harms the task.
// `cryo dump -v --leave-running` of a test program's tree is killed KILLS times, each at a moment
// drawn (seeded) from the span between its first stage line and the end of an uninterrupted dump.
// After each kill every process must be there, running (not stopped), untraced, with the same
// mappings, descriptors and blocked signals; a tree found harmed is ended (its own check's verdict
// noted) and a fresh one started. At the end the last tree's own check must print PASS, or the
// harm it found went unnoticed. Prints one line per harmed kill and the counts, the harmed ones
// split into those where only cryo's leftovers differ (its areas in the address space, its pipes in
// the descriptor table) and the tree's own check still passes, and the others.
// usage (after npm run build and node scripts/build-test-programs.mjs):
//   node scripts/dump-sigkill.mjs [KILLS] [PROGRAM] [SEED]      (300, fault-tree, 15)
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..', 'dist');
const { startTarget } = await import(path.join(root, 'test/helpers/dump-target.js'));
const { rng } = await import(path.join(root, 'test/helpers/rng.js'));
const cli = path.join(root, 'src/cli/main.js');

const [kills = '300', program = 'fault-tree', seedArg = '15'] = process.argv.slice(2);

const random = rng(Number(seedArg));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function treeOf(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    for (const tid of readdirSync(`/proc/${out[i]}/task`)) {
      out.push(...readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    }
  }
  return out;
}

/** What a dump must not change in a process. */
function state(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (k) => new RegExp(`^${k}:\\s+(.*)$`, 'm').exec(status)?.[1];
  const fds = readdirSync(`/proc/${pid}/fd`).map((fd) => `${fd} ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`).sort();
  const threads = readdirSync(`/proc/${pid}/task`).map((t) => {
    const s = readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8');
    return `${t} ${/^State:\s+[Tt]/m.test(s) ? 'stopped' : 'runs'} tracer ${/^TracerPid:\s+(\d+)/m.exec(s)[1]} blocked ${/^SigBlk:\s+(\S+)/m.exec(s)[1]}`;
  }).sort();
  return { maps: readFileSync(`/proc/${pid}/maps`, 'utf8'), fds: fds.join(', '), threads: threads.join('; '), sigq: field('SigPnd') + '/' + field('ShdPnd') };
}

function harm(pids, before, keys = undefined) {
  for (let i = 0; i < pids.length; i++) {
    let now;
    try { now = state(pids[i]); } catch { return `process ${pids[i]} is gone`; }
    for (const k of keys ?? Object.keys(now)) {
      if (now[k] !== before[i][k]) return `process ${pids[i]}: ${k} changed (${k === 'maps' ? 'an area of cryo\'s left' : `${before[i][k]} -> ${now[k]}`})`;
    }
  }
  return undefined;
}

/** Runs cryo dump on the tree; kills it `at` ms after its first stage line (never, when undefined). */
function runDump(pid, dir, at) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'dump', '-v', '-t', String(pid), '-D', dir, '--leave-running'], {
      stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CRYO_FAULT_TRACE: `${dir}.points` },
    });
    let err = '';
    let started;
    child.stderr.on('data', (d) => {
      err += d;
      if (started === undefined && /cryo: /.test(err)) {
        started = Date.now();
        if (at !== undefined) setTimeout(() => child.kill('SIGKILL'), at);
      }
    });
    child.on('exit', (code, signal) => resolve({ code, signal, ms: started === undefined ? 0 : Date.now() - started, err }));
  });
}

function startTree() {
  const t = startTarget(program);
  const pids = treeOf(t.pid);
  return { t, pids, before: pids.map(state) };
}

function endTree(tree) {
  let verdict;
  try { verdict = tree.t.finish(); } catch (e) { verdict = `no verdict: ${e.message}`; }
  for (const p of tree.pids.slice(1)) { try { process.kill(p, 'SIGKILL'); } catch { /* ended */ } }
  tree.t.cleanup();
  return verdict;
}

/** The last line of a CRYO_FAULT_TRACE file, without its operation and number. */
function lastPoint(file) {
  let text = '';
  try { text = readFileSync(file, 'utf8'); } catch { return '(none)'; }
  const lines = text.trim().split('\n');
  return lines[lines.length - 1].split(' ').slice(2).join(' ') || '(none)';
}

/** Harmed kills by the kind of the last point cryo reached: those that left only cryo's leftovers, and the others. */
const byPoint = { leftovers: new Map(), harm: new Map() };
let tree = startTree();
const harmed = [];
let leftoversOnly = 0;
let finished = 0;
let unnoticed = 0;
try {
  // The span of an uninterrupted dump, from its first stage line (the mean of three).
  let span = 0;
  for (let i = 0; i < 3; i++) {
    const r = await runDump(tree.t.pid, path.join(tree.t.dir, `calib-${i}`), undefined);
    rmSync(path.join(tree.t.dir, `calib-${i}`), { recursive: true, force: true });
    if (r.code !== 0) throw new Error(`an uninterrupted dump failed: ${r.err}`);
    span += r.ms / 3;
  }
  const why0 = harm(tree.pids, tree.before);
  if (why0) throw new Error(`an uninterrupted dump harmed the tree: ${why0}`);
  console.error(`a dump takes ${Math.round(span)} ms from its first stage line`);
  for (let i = 1; i <= Number(kills); i++) {
    const at = Math.floor(random() * span);
    const dir = path.join(tree.t.dir, `img-${i}`);
    const r = await runDump(tree.t.pid, dir, at);
    // What cryo was doing when it died: the last point it reached (an injected call, a read, a write).
    const last = lastPoint(`${dir}.points`);
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}.points`, { force: true });
    if (r.signal !== 'SIGKILL') { finished++; continue; }
    // The kernel detaches the tracees of a dead tracer, and a task killed inside a call still has
    // to run into its rt_sigreturn: give them up to 2 s to be back (as fault-tree.test.ts does).
    let beyond;
    for (let tries = 0; tries < 20; tries++) {
      await sleep(100);
      beyond = harm(tree.pids, tree.before, ['threads', 'sigq']);
      if (beyond === undefined) break;
    }
    const why = harm(tree.pids, tree.before);
    if (why) {
      const verdict = endTree(tree);
      harmed.push(i);
      const only = beyond === undefined && verdict === 'PASS';
      if (only) leftoversOnly++;
      const kind = last.replace(/ into task \d+$| task \d+$|\/\S*|\d+/g, '').trim();
      const counts = only ? byPoint.leftovers : byPoint.harm;
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      console.log(`kill ${i} at ${at} ms, after point '${last}': ${beyond ?? why}; the tree's own check: ${verdict}`);
      tree = startTree();
    }
    if (i % 50 === 0) console.error(`... ${i} kills, ${harmed.length} harmed`);
  }
} finally {
  const verdict = endTree(tree);
  if (verdict !== 'PASS') unnoticed++;
  const n = Number(kills) - finished;
  console.log(`SIGKILL of cryo dump (${program}): ${n - harmed.length} of ${n} kills left the task unharmed, ${leftoversOnly} more left only cryo's areas or pipes in it (its own check passed), ${harmed.length - leftoversOnly} harmed it otherwise; ${finished} dumps ended before their kill; the last tree's own check: ${verdict}`);
  const list = (m) => [...m].sort((a, b) => b[1] - a[1]).map(([k, c]) => `${c} ${k}`).join(', ') || 'none';
  console.log(`harmed otherwise, by the last point cryo reached: ${list(byPoint.harm)}`);
  console.log(`only cryo's leftovers, by the last point cryo reached: ${list(byPoint.leftovers)}`);
  if (unnoticed) process.exitCode = 1;
}
