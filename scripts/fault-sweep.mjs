#!/usr/bin/env node
// Walks the fault points of a dump (issue 15): for N = FIRST..LAST (every STRIDE-th), a dump with
// CRYO_FAULT=dump:N must fail at point N and leave every process as it was (same mappings, same
// descriptors, no thread stopped or traced) and no inventory.img (test/helpers/fault-sweep.ts).
// The subject is a test program's tree (its own check must print PASS at the end) or, with --real
// NAME, a real program of the test suite (test/helpers/real-targets.ts), which must answer as it
// should after every point. A real program runs on between points: its state is read again before
// each one; a dump refused because it was busy (an io_uring request in flight), or with fewer
// points than N, is counted apart; a change that is not a stopped or traced thread is harm only if
// the point makes it again on two retries and not only in mappings the program changes as often with
// no dump (else it was the program's own, counted apart too).
// Prints "dump: S of N points survived" and one line per point that was not.
// usage (after npm run build and node scripts/build-test-programs.mjs):
//   node scripts/fault-sweep.mjs [PROGRAM | --real NAME] [--stride K] [FIRST] [LAST]   (PROGRAM: fault-tree)
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const { dump } = await import(path.join(root, 'src/dump/index.js'));
const { faultCount } = await import(path.join(root, 'src/fault.js'));
const { startTarget } = await import(path.join(root, 'test/helpers/dump-target.js'));
const { startRealTarget } = await import(path.join(root, 'test/helpers/real-targets.js'));
const { newTally, realSubject, sweepPoint } = await import(path.join(root, 'test/helpers/fault-sweep.js'));

const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const [, v] = args.splice(i, 2);
  if (v === undefined) throw new Error(`${name} needs a value`);
  return v;
};
const realName = option('--real');
const stride = Number(option('--stride') ?? 1);
if (!Number.isInteger(stride) || stride < 1) throw new Error(`--stride ${stride}: a whole number from 1`);
const [program, firstArg, lastArg] = realName ? [realName, ...args] : args.length ? args : ['fault-tree'];

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

// The subject: a real program checked after every point, or a test program's tree checked once at the end.
let subject;
let finish;
if (realName) {
  const t0 = Date.now();
  const r = await startRealTarget(realName);
  console.error(`${realName} started and answered in ${Math.round((Date.now() - t0) / 1000)} s`);
  subject = realSubject(r);
  finish = () => { r.cleanup(); return 'answered after every point'; };
} else {
  const t = startTarget(program);
  const pids = treeOf(t.pid);
  subject = { root: t.pid, dir: t.dir, pids, real: false, pidsNow: () => pids, check: async () => {}, settle: async () => {} };
  finish = () => {
    try {
      return t.finish();
    } finally {
      for (const p of pids.slice(1)) { try { process.kill(p, 'SIGKILL'); } catch { /* ended */ } }
      t.cleanup();
    }
  };
}

// Interrupted (^C, timeout): the program ends with the sweep, whatever point it was at.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { console.log(`${sig}: the sweep stops; ${program}: ${finish()}`); process.exit(1); });

const bad = [];
const tally = newTally();
let swept = 0;
const t0 = Date.now();
try {
  await dump({ pid: subject.root, dir: path.join(subject.dir, 'count'), leaveRunning: true });
  rmSync(path.join(subject.dir, 'count'), { recursive: true, force: true });
  const count = faultCount('dump');
  const first = Number(firstArg ?? 1);
  const last = Math.min(Number(lastArg ?? count), count);
  for (let n = first; n <= last; n += stride) {
    swept++;
    const why = await sweepPoint(subject, n, tally);
    if (why) {
      bad.push(n);
      console.log(`point ${n}: ${why}`);
      if (realName && bad.length >= 20) { console.log('20 points harmed: the sweep stops'); break; }
    }
    while (tally.noise.length > 0) console.log(tally.noise.shift());
    if (swept % 50 === 0) console.error(`... ${n} of ${last} (${Math.round((Date.now() - t0) / 1000)} s)`);
  }
  const apart = [
    tally.busy.size ? `${tally.busy.size} refused as busy before their point` : '',
    tally.beyond.size ? `${tally.beyond.size} past the end of that dump` : '',
    ...[...tally.refused].map(([why, ns]) => `${ns.length} refused before their point (points ${ns[0]}..${ns.at(-1)}): ${why}`),
    tally.noisy.length ? `${tally.noisy.length} changed the program by its own changes (not on two retries, or only mappings it changes as often with no dump; points ${tally.noisy.join(', ')})` : '',
  ].filter(Boolean).join(', ');
  console.log(`dump of ${program} (${subject.pids.length} processes): ${swept - bad.length} of ${swept} points survived (points ${first}..${last} of ${count}${stride > 1 ? `, every ${stride}th` : ''}${apart ? `; ${apart}` : ''}) in ${Math.round((Date.now() - t0) / 1000)} s`);
} finally {
  delete process.env.CRYO_FAULT;
  const verdict = finish();
  console.log(`${program}'s own check after the sweep: ${verdict}`);
  if ((!realName && verdict !== 'PASS') || bad.length > 0) process.exitCode = 1;
}
