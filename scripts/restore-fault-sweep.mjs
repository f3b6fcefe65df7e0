#!/usr/bin/env node
// Walks every fault point of a restore of a test program's tree (issue 15): the tree is dumped once;
// then for N = 1..count a copy of its images is restored with CRYO_FAULT=restore:N. Each must fail
// with cryo's own one-line error naming point N, and leave nothing: no process or thread of the
// tree, no child of the sweep in any state, no file (ghost file, socket name) in the program's
// directory that was not there, and the image directory byte for byte as it was. Before and after
// the sweep a restore without a fault must bring the tree back, and its own check print PASS.
// Prints "restore: S of N points survived" and one line per point that was not.
// With --real NAME, a real program of the test suite (test/helpers/real-targets.ts) instead: the
// restore after the sweep must bring it back answering as it should.
// usage (after npm run build and node scripts/build-test-programs.mjs):
//   node scripts/restore-fault-sweep.mjs [PROGRAM | --real NAME] [--stride K] [FIRST] [LAST]      (PROGRAM defaults to fault-tree)
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const { restore, RestoreError } = await import(path.join(root, 'src/restore/index.js'));
const { faultCount } = await import(path.join(root, 'src/fault.js'));
const { startAndDump, imagesCopy, restoreAndFinish, cleanupDumped } = await import(path.join(root, 'test/helpers/round-trip.js'));
const { childStates, waitGone } = await import(path.join(root, 'test/helpers/restore-env.js'));

const { decodeImageFile } = await import(path.join(root, 'src/images/index.js'));
const { dump } = await import(path.join(root, 'src/dump/index.js'));
const { startRealTarget } = await import(path.join(root, 'test/helpers/real-targets.js'));

const args = process.argv.slice(2);
const realAt = args.indexOf('--real');
const realName = realAt >= 0 ? args.splice(realAt, 2)[1] : undefined;
const strideAt = args.indexOf('--stride');
const stride = strideAt >= 0 ? Number(args.splice(strideAt, 2)[1]) : 1;
if (!Number.isInteger(stride) || stride < 1) throw new Error(`--stride ${stride}: a whole number from 1`);
const [program = realName ?? 'fault-tree', firstArg, lastArg] = realName ? [realName, ...args] : args;

/** Every file of a directory tree with its mode and a hash of its bytes (names only for others). */
function dirState(dir, skip = () => false) {
  const out = [];
  const walk = (d) => {
    for (const f of readdirSync(d).sort()) {
      const p = path.join(d, f);
      if (skip(p)) continue;
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) { out.push(`${p}/`); walk(p); continue; }
      out.push(st.isFile() ? `${p} ${st.mode.toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}` : `${p} ${st.mode.toString(8)}`);
    }
  };
  walk(dir);
  return out.join('\n');
}

/** Every process and thread pstree.img names. */
function treeTids(dir) {
  return decodeImageFile(path.join(dir, 'pstree.img')).entries.flatMap(({ value }) => [Number(value.pid), ...(value.threads ?? []).map(Number)]);
}

/**
 * A real program of the test suite (test/helpers/real-targets.ts) dumped once, as startAndDump
 * gives a test program: its restore must bring it back answering (checked once, at the end: a
 * check moves its counters on from those the images hold).
 */
async function startAndDumpReal(name) {
  const r = await startRealTarget(name);
  const images = path.join(r.prog.dir, 'images');
  try {
    await r.settle();
    await dump({ pid: r.prog.pid, dir: images });
    for (const t of treeTids(images)) if (!waitGone(t, 10_000)) throw new Error(`dumped ${name} task ${t} is still there`);
  } catch (e) {
    r.cleanup();
    throw e;
  }
  const tids = () => [...new Set(treeTids(images))];
  // The program's files as the dump left them (a database's logs): a restored program that ran
  // writes them, and the next restore would be refused (a file modified after the dump). Put back
  // after each restore that ran it, into the same files, with their times (cp -a).
  const backup = `${r.prog.dir}.at-dump`;
  const dirs = [r.prog.dir, ...r.dataDirs];
  const own = (d) => readdirSync(d).filter((f) => d !== r.prog.dir || (f !== 'images' && !f.startsWith('restore-'))).map((f) => path.join(d, f));
  const cp = (from, to) => { if (from.length === 0) return; const c = spawnSync('cp', ['-a', ...from, to]); if (c.status !== 0) throw new Error(`cp -a: ${c.stderr}`); };
  dirs.forEach((d, i) => { mkdirSync(path.join(backup, String(i)), { recursive: true }); cp(own(d), path.join(backup, String(i))); });
  // After 2 s: a killed program's writes still in flight (MariaDB's through io_uring) land meanwhile.
  const putBack = () => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
    dirs.forEach((d, i) => cp(own(path.join(backup, String(i))), d));
  };
  const killAll = () => {
    for (const t of tids()) { try { process.kill(t, 'SIGKILL'); } catch { /* gone */ } }
    tids().forEach((t) => waitGone(t, 10_000));
    putBack();
  };
  return {
    d: { images, pid: r.prog.pid, target: { dir: r.prog.dir } },
    restoreAndFinish: async (check) => {
      const dir = imagesCopy({ images, target: { dir: r.prog.dir } });
      try {
        const got = await restore({ dir, detach: true });
        if (got.pid !== r.prog.pid) return `restored as ${got.pid}, dumped as ${r.prog.pid}`;
        if (check) await r.check();
        return 'PASS';
      } catch (e) {
        return `FAIL: ${e.message}`;
      } finally {
        killAll();
        rmSync(dir, { recursive: true, force: true });
      }
    },
    cleanup: () => { killAll(); r.cleanup(); rmSync(backup, { recursive: true, force: true }); },
  };
}

const real = realName ? await startAndDumpReal(realName) : undefined;
const d = real ? real.d : await startAndDump(program);
const finishRestore = (check) => (real ? real.restoreAndFinish(check) : restoreAndFinish(d));
const tids = [...new Set(treeTids(d.images))];
const bad = [];
let count = 0;
let first = 0;
let last = 0;
try {
  const verdict0 = await finishRestore(false);
  count = faultCount('restore');
  if (verdict0 !== 'PASS') throw new Error(`a restore without a fault did not pass: ${verdict0}`);
  first = Number(firstArg ?? 1);
  last = Math.min(Number(lastArg ?? count), count);
  // Everything in the program's directory but the restore copies: ghost files and socket names land here.
  const notCopy = (p) => path.dirname(p) === d.target.dir && path.basename(p).startsWith('restore-');
  const around = () => dirState(d.target.dir, notCopy);
  const t0 = Date.now();
  let swept = 0;
  for (let n = first; n <= last; n += stride) {
    swept++;
    const dir = imagesCopy(d);
    const imagesBefore = dirState(dir);
    const filesBefore = around();
    let why;
    process.env.CRYO_FAULT = `restore:${n}`;
    try {
      await restore({ dir, detach: true });
      why = 'the restore succeeded';
    } catch (e) {
      if (!(e instanceof RestoreError)) why = `not cryo's error: ${e?.stack ?? e}`;
      else if (e.message.includes('\n')) why = `more than one line: ${JSON.stringify(e.message)}`;
      else if (!new RegExp(`fault injected at restore point \\d+ \\(.*\\(CRYO_FAULT=restore:${n}\\)`).test(e.message)) why = `failed otherwise: ${e.message}`;
    } finally {
      delete process.env.CRYO_FAULT;
    }
    for (const t of tids) if (!waitGone(t, 5000)) why ??= `process or thread ${t} of the tree is still there`;
    for (const [child, state] of childStates()) why ??= `child ${child} of the sweep is left, in state ${state}`;
    if (dirState(dir) !== imagesBefore) why ??= 'the image directory changed';
    const filesAfter = around();
    if (filesAfter !== filesBefore) why ??= `files changed around the program: ${filesAfter.split('\n').filter((l) => !filesBefore.split('\n').includes(l)).join(', ')}`;
    rmSync(dir, { recursive: true, force: true });
    if (why) {
      bad.push(n);
      console.log(`point ${n}: ${why}`);
      for (const t of tids) { try { process.kill(t, 'SIGKILL'); } catch { /* gone */ } }
    }
    if (swept % 50 === 0) console.error(`... ${n} of ${last} (${Math.round((Date.now() - t0) / 1000)} s)`);
  }
  console.log(`restore of ${program} (${tids.length} processes and threads): ${swept - bad.length} of ${swept} points survived (points ${first}..${last} of ${count}${stride > 1 ? `, every ${stride}th` : ''}) in ${Math.round((Date.now() - t0) / 1000)} s`);
  const verdict = await finishRestore(true);
  console.log(`${program}'s own check after a restore that follows the sweep: ${verdict}`);
  if (verdict !== 'PASS' || bad.length > 0) process.exitCode = 1;
} finally {
  delete process.env.CRYO_FAULT;
  if (real) real.cleanup();
  else cleanupDumped(d);
  if (existsSync(d.target.dir)) rmSync(d.target.dir, { recursive: true, force: true });
}
