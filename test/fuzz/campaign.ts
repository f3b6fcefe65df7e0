// The restore fuzzer's worker (issue 15), run as its own process by fuzz-driver.ts: dumps a few
// test programs inside a scratch root, then for each case copies one dump, mutates it
// (mutate.ts), drops its manifest (so the parsers, not the hash check, meet the mutation) and
// restores it in this process. Each case must end in a restored task (killed at once) or in
// cryo's one-line refusal; either way no process of ours may be left, and nothing may appear,
// change or vanish in the scratch root but the files the dump named in the program's directory.
// One JSON line per case on stdout ({"start": i} before it, so the driver can name a hang).
// usage: node dist/test/fuzz/campaign.js ROOT SEED FIRST COUNT [PROGRAM,...]   (ROOT: an empty directory)

import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ImageError } from '../../src/images/index.js';
import { restore, RestoreError } from '../../src/restore/index.js';
import { __WALL, kill, waitpid } from '../../src/sys/index.js';
import { startAndDump, type Dumped } from '../helpers/round-trip.js';
import { childStates } from '../helpers/restore-env.js';
import { Dice, mutateDir, type Hostile } from './mutate.js';
import { rng } from '../helpers/rng.js';

export const DEFAULT_PROGRAMS = ['rt-files-reg', 'rt-unix', 'rt-files-ghost', 'rt-tree', 'rt-threads', 'rt-fdkinds'];

export interface CaseResult {
  i: number;
  program: string;
  mutations: string[];
  outcome: 'restored' | 'refused' | 'failed-after-start' | 'finding';
  /** The refusal's code and line, or what is wrong (a finding). */
  code?: string;
  line?: string;
}

const PROGRAMMING_ERRORS = [TypeError, RangeError, ReferenceError, SyntaxError];

/** The error of a crash of cryo (a bug), not a refusal: anything but RestoreError/ImageError, or one caused by a programming error. */
function crashOf(e: unknown): Error | undefined {
  if (!(e instanceof RestoreError) && !(e instanceof ImageError)) return e as Error;
  for (let c: unknown = e; c instanceof Error; c = c.cause) {
    if (PROGRAMMING_ERRORS.some((t) => c instanceof t) || (c as Error).name === 'AssertionError') return c;
  }
  return undefined;
}

/** Every path under `root` but `skip`, with what identifies its content. */
function snapshot(root: string, skip: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string) => {
    if (p === skip) return;
    let st;
    try { st = lstatSync(p, { bigint: true }); } catch { return; }
    const link = st.isSymbolicLink() ? readlinkSync(p) : '';
    // A directory's own times change with a file made and removed again in it (a deleted file restore recreates for a while).
    const content = st.isDirectory() ? '' : `${st.size} ${st.mtimeNs}`;
    out.set(p, `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.ino} ${content} ${link}`);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(path.join(p, n));
  };
  walk(root);
  return out;
}

/**
 * What changed between two snapshots but at the places the images name: a name they hold (an
 * absolute, normalized path with no symbolic link on the way; a relative one in the program's
 * directory, its working directory), and the files already in the program's directory `home`
 * (restore rebinds its sockets there).
 */
function changes(before: Map<string, string>, after: Map<string, string>, home: string, names: Set<string>): string[] {
  const named = (p: string) => [...names].some((n) => (path.isAbsolute(n) ? n === p : path.join(home, n) === p));
  const out: string[] = [];
  for (const [p, v] of after) {
    const was = before.get(p);
    if (was === v || named(p)) continue;
    if (was === undefined) out.push(`${p} appeared`);
    else if (!(path.dirname(p) === home && !v.startsWith('4'))) out.push(`${p} changed`);
  }
  for (const [p, was] of before) if (!after.has(p) && !named(p) && !(path.dirname(p) === home && was.startsWith('14'))) out.push(`${p} vanished`);
  return out;
}

/** Kills and reaps every child of this process (a restored tree; its orphans come to us, a subreaper); returns their PIDs. */
function endChildren(): number[] {
  const seen: number[] = [];
  for (let round = 0; round < 100; round++) {
    const kids = [...childStates().keys()];
    if (kids.length === 0) break;
    for (const p of kids) {
      seen.push(p);
      try { kill(p, 9); } catch { /* gone */ }
      try { waitpid(p, __WALL); } catch { /* reaped */ }
    }
  }
  return [...new Set(seen)];
}

async function runCase(i: number, base: Dumped, program: string, d: Dice, h: Hostile, root: string): Promise<CaseResult> {
  const dir = mkdtempSync(path.join(base.target.dir, 'fuzz-'));
  cpSync(base.images, dir, { recursive: true });
  rmSync(path.join(dir, 'cryo-manifest.img'), { force: true });
  const { mutations, names } = mutateDir(dir, d, h);
  // CRYO_FUZZ_KEEP=DIR keeps each case's mutated images there (to craft a regression test from).
  if (process.env.CRYO_FUZZ_KEEP) cpSync(dir, path.join(process.env.CRYO_FUZZ_KEEP, `case-${i}`), { recursive: true });
  const before = snapshot(root, dir);
  const r: CaseResult = { i, program, mutations, outcome: 'restored' };
  try {
    await restore({ dir, detach: true });
  } catch (e) {
    const crash = crashOf(e);
    const line = (e as Error).message ?? String(e);
    if (crash) Object.assign(r, { outcome: 'finding', line: `crash: ${crash.stack ?? String(crash)}` });
    else if (line.includes('\n')) Object.assign(r, { outcome: 'finding', line: `a refusal of more than one line: ${JSON.stringify(line)}` });
    else Object.assign(r, { outcome: e instanceof RestoreError && e.code === 'FAILED' ? 'failed-after-start' : 'refused', code: (e as RestoreError).code ?? 'IMAGE', line });
  }
  const left = endChildren();
  if (r.outcome !== 'restored' && left.length > 0 && r.outcome !== 'finding') {
    Object.assign(r, { outcome: 'finding', line: `processes left behind by a refused restore: ${left.join(', ')} (${r.line})` });
  }
  const changed = changes(before, snapshot(root, dir), base.target.dir, names);
  if (changed.length > 0 && r.outcome !== 'finding') {
    Object.assign(r, { outcome: 'finding', line: `written outside what the dump named: ${changed.slice(0, 5).join('; ')} (${r.outcome}: ${r.line ?? ''})` });
  }
  rmSync(dir, { recursive: true, force: true });
  return r;
}

async function main(): Promise<void> {
  const [root = '', seedArg, firstArg, countArg, programsArg] = process.argv.slice(2);
  const seed = Number(seedArg), first = Number(firstArg), count = Number(countArg);
  const programs = programsArg ? programsArg.split(',') : DEFAULT_PROGRAMS;
  // The scratch root: the dumped programs' directories and the place nothing may touch.
  process.env.TMPDIR = root;
  const outside = path.join(root, 'outside');
  mkdirSync(outside);
  writeFileSync(path.join(outside, 'victim.txt'), 'not restore\'s\n');
  const bases: { program: string; d: Dumped; h: Hostile }[] = [];
  try {
    for (const program of programs) {
      const d = await startAndDump(program);
      const link = path.join(d.target.dir, 'lnk');
      symlinkSync(outside, link);
      bases.push({ program, d, h: { dir: d.target.dir, outside, link, livePids: [process.pid, process.ppid, 1] } });
    }
    endChildren(); // the dumped trees' processes, reparented to us as they died
    const emit = (o: object) => process.stdout.write(`${JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
    for (let i = first; i < first + count; i++) {
      emit({ start: i });
      const d = new Dice(rng(seed * 1_000_003 + i));
      const b = d.pick(bases);
      emit(await runCase(i, b.d, b.program, d, b.h, root));
    }
  } finally {
    for (const b of bases) b.d.target.cleanup();
  }
}

// `node --test dist/test/` runs every file under test/ once without arguments: nothing to do then.
if (process.argv[2] !== undefined) await main();
