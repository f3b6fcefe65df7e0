// cryo migrate -t PID -D DIR --dest-dir DIR2 --address A --port N [--src-netns F] [--dest-netns F]
//   [--max-pre-dumps K] [--tcp-established] [--lazy-pages] [--action-script S]
// The README's migration steps in one command, both ends on this machine (two network namespaces):
// pre-dumps to a page server at the destination until the pages each writes stop shrinking (or K),
// the final dump (the task ends at the source), then the restore at the destination, run here in
// its network namespace so that the task is started by a cryo already loaded. CRIU's action script
// hooks frame the freeze: network-lock before the final dump, post-dump after it, network-unlock
// once the task runs again. Prints one line per step and the freeze; exits 0 when the task runs at
// the destination, 1 with one line otherwise (saying where the task is).
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Command, treePid, UsageError } from '../command.js';
import { specs } from './specs.js';
import { restore, RestoreError } from '../../restore/index.js';
import { dump, DumpError, type DumpResult } from '../../dump/index.js';
import { SmapsAhead } from '../../dump/smaps-ahead.js';
import { hashMemoryImages } from '../../images/index.js';
import { catchTerminatingSignals } from '../signals.js';
import { MigrateError, type Step, actionScript, completeServerDir, enterNetns, listening, pageServer, pagesWritten, pidGone } from './migrate-steps.js';

interface Plan {
  pid: number; src: string; dest: string; address: string; port: number;
  srcNetns?: string; destNetns?: string; maxPreDumps: number; tcp: boolean; lazy: boolean; script?: string;
}

/** Where the task is, for the one line a failure ends with. */
interface TaskPlace { at: 'source' | 'gone' | 'destination' }

const say = (line: string) => process.stdout.write(`cryo migrate: ${line}\n`);

export const migrateCommand: Command = {
  ...specs.migrate,
  async run(args) {
    const plan = parse(args);
    const task: TaskPlace = { at: 'source' };
    try {
      await migrate(plan, task);
      return 0;
    } catch (e) {
      if (!(e instanceof MigrateError || e instanceof RestoreError)) throw e;
      const where = {
        source: `task ${plan.pid} runs on at the source`,
        gone: `task ${plan.pid} is gone from the source; its images are in ${path.join(plan.dest, 'final')}: restore them there with cryo restore -D`,
        destination: `task ${plan.pid} runs at the destination`,
      }[task.at];
      process.stderr.write(`cryo migrate: ${e.message}; ${where}\n`);
      return 1;
    }
  },
};

function parse(args: string[]): Plan {
  let v;
  try {
    v = parseArgs({
      args, strict: true,
      options: {
        tree: { type: 'string', short: 't' }, 'images-dir': { type: 'string', short: 'D' }, 'dest-dir': { type: 'string' },
        address: { type: 'string' }, port: { type: 'string' }, 'src-netns': { type: 'string' }, 'dest-netns': { type: 'string' },
        'max-pre-dumps': { type: 'string' }, 'tcp-established': { type: 'boolean' }, 'lazy-pages': { type: 'boolean' }, 'action-script': { type: 'string' },
      },
    }).values;
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
  treePid(v.tree);
  if (v['images-dir'] === undefined || v['dest-dir'] === undefined) throw new UsageError('-D DIR (the source\'s images) and --dest-dir DIR (the destination\'s) are required');
  if (v.address === undefined || v.port === undefined || !/^\d+$/.test(v.port) || Number(v.port) < 1 || Number(v.port) > 65535) {
    throw new UsageError('--address A --port N (1-65535) are required: where the destination\'s page server listens, as the source reaches it');
  }
  const max = v['max-pre-dumps'] ?? '4';
  if (!/^\d+$/.test(max) || Number(max) < 1) throw new UsageError('--max-pre-dumps K: K is a count of at least 1');
  return {
    pid: Number(v.tree), src: path.resolve(v['images-dir']), dest: path.resolve(v['dest-dir']), address: v.address, port: Number(v.port),
    srcNetns: v['src-netns'], destNetns: v['dest-netns'], maxPreDumps: Number(max),
    tcp: v['tcp-established'] ?? false, lazy: v['lazy-pages'] ?? false, script: v['action-script'],
  };
}

/**
 * One dump of the chain (pre-dump or final), run in this process (no Node start between two dumps)
 * in the source's network namespace, its pages streamed to `server` (listening for it). Returns
 * once the server confirmed every page (PS_IOV_CLOSE); the server's end, with any error, is
 * `ending`'s, looked at once the task runs at the destination.
 */
async function dumpStep(p: Plan, kind: 'pre-dump' | 'dump', name: string, parent: string | undefined, server: Step, ending: Promise<Error | undefined>[], onSeize?: () => void, smapsAhead?: SmapsAhead): Promise<DumpResult> {
  // A signal ends the dump as an error would: the task is left as it was (as the dump command does).
  const ac = new AbortController();
  const endSignals = catchTerminatingSignals(() => ac.abort());
  const back = p.srcNetns === undefined ? () => {} : enterNetns(p.srcNetns);
  let res: DumpResult;
  try {
    res = await dump({
      pid: p.pid, dir: path.join(p.src, name), preDump: kind === 'pre-dump', prevImagesDir: parent && `../${parent}`,
      // The final dump frees the task's PID without waiting for the kernel to free its memory.
      keepMemory: kind === 'dump', smapsAhead,
      // The network is the action script's to lock (network-lock, network-unlock), as with CRIU's --network-lock skip.
      pageServer: { address: p.address, port: p.port }, tcpEstablished: p.tcp, networkLock: 'skip', signal: ac.signal,
      onEvent: (e) => {
        if (e.type === 'stage' && e.stage === 'seize') onSeize?.();
        else if (e.type === 'warning') process.stderr.write(`cryo migrate: warning: ${e.message}\n`);
      },
    });
  } catch (e) {
    server.kill();
    if (e instanceof DumpError) throw new MigrateError(`${kind} ${name}: ${e.message}`);
    throw e;
  } finally {
    back();
    endSignals();
  }
  ending.push(server.done.then(() => undefined, (e: Error) => new MigrateError(`page server for ${name}: ${e.message}`)));
  return res;
}

async function migrate(p: Plan, task: TaskPlace): Promise<void> {
  for (const d of [p.src, p.dest]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const finalDir = path.join(p.dest, 'final');
  const server = (name: string, parent: string | undefined) => pageServer(path.join(p.dest, name), p.address, p.port, parent && `../${parent}`, p.destNetns);
  // lazy-pages starts first (a Node start takes 100s of ms): it reads the images only when the
  // restore hands it the task.
  let lazy: Step | undefined;
  let next: Step | undefined;
  const ending: Promise<Error | undefined>[] = [];
  try {
    if (p.lazy) {
      mkdirSync(finalDir, { recursive: true, mode: 0o700 });
      lazy = await listening(['lazy-pages', '-D', finalDir], undefined);
    }
    // Pre-copy: each pre-dump writes what the task wrote since the last; stop when that stops shrinking.
    let parent: string | undefined;
    let last = Infinity;
    let smaps: SmapsAhead | undefined;
    next = await server('pre1', undefined);
    for (let i = 1; ; i++) {
      const name = `pre${i}`;
      const t0 = performance.now();
      // The next page server (a Node start, 100s of ms) starts as soon as this dump holds its
      // connection (the server listens no more): named for the step that most likely follows.
      const guess = i === p.maxPreDumps ? 'final' : `pre${i + 1}`;
      let early: Promise<Step> | undefined;
      try {
        await dumpStep(p, 'pre-dump', name, parent, next, ending, () => { early = server(guess, name); early.catch(() => {}); });
      } catch (e) {
        early?.then((s) => s.kill(), () => {});
        throw e;
      }
      const pages = pagesWritten(path.join(p.src, name));
      const done = pages >= last || i === p.maxPreDumps;
      // The final dump's VmFlags, read while this pre-dump is hashed (a walk of every page, out of the freeze).
      if (done) smaps = SmapsAhead.start(p.pid);
      const want = done ? 'final' : `pre${i + 1}`;
      // The restore checks the chain against this pre-dump's hashes in the freeze; the next page
      // server takes them from its cryo-hashes.json when the dump connects.
      const starting = nextServer(early, guess, want, () => server(want, name), path.join(p.dest, guess));
      try {
        hashMemoryImages(path.join(p.dest, name));
      } finally {
        next = await starting;
      }
      say(`pre-dump ${i}: ${pages} pages in ${(performance.now() - t0).toFixed(0)} ms`);
      parent = name;
      if (done) break;
      last = pages;
    }
    await finish(p, parent, next, ending, lazy, task, smaps);
  } catch (e) {
    next?.kill();
    lazy?.kill();
    throw e;
  }
  for (const e of await Promise.all(ending)) if (e) throw e;
  if (lazy) {
    await lazy.done.catch((e: Error) => { throw new MigrateError(`lazy-pages: ${e.message}`); });
    say('lazy-pages: every page arrived');
  }
}

/**
 * The next step's page server: the one started early when it was named right (else started again
 * now, e.g. when it could not listen yet), otherwise that one ended and its directory removed first.
 */
async function nextServer(early: Promise<Step> | undefined, guess: string, want: string, start: () => Promise<Step>, guessDir: string): Promise<Step> {
  if (early === undefined) return start();
  if (guess === want) return early.catch(() => start());
  const wrong = await early.catch(() => undefined);
  if (wrong) {
    wrong.kill();
    await wrong.done.catch(() => {});
  }
  rmSync(guessDir, { recursive: true, force: true });
  return start();
}

/** The freeze: the final dump to `server`, the restore at the destination, the action script's hooks around them. */
async function finish(p: Plan, parent: string, server: Step, ending: Promise<Error | undefined>[], lazy: Step | undefined, task: TaskPlace, smaps: SmapsAhead | undefined): Promise<void> {
  const finalDir = path.join(p.dest, 'final');
  let frozenAt = 0;
  let dumpedAt = 0;
  let restoreAt = 0;
  let runningAt = 0;
  await smaps?.settled();
  await actionScript(p.script, 'network-lock');
  const t0 = performance.now();
  let dumped: DumpResult;
  try {
    dumped = await dumpStep(p, 'dump', 'final', parent, server, ending, () => { frozenAt = performance.now(); }, smaps);
  } catch (e) {
    // The task runs on at the source: let its network go again (as CRIU does when a dump fails).
    await actionScript(p.script, 'network-unlock').catch(() => {});
    throw e;
  }
  task.at = 'gone';
  // The task's memory at the source is freed once it runs at the destination (or its restore failed).
  try {
    completeServerDir(path.join(p.src, 'final'), finalDir);
    say(`dump: ${pagesWritten(finalDir)} pages in ${(performance.now() - t0).toFixed(0)} ms; task ${p.pid} ended at the source`);
    await actionScript(p.script, 'post-dump');
    dumpedAt = performance.now();
    if (!(await pidGone(p.pid, 20_000))) throw new MigrateError(`PID ${p.pid} is still held at the source (a zombie its parent has not reaped), so the destination cannot take it`);
    const back = p.destNetns === undefined ? () => {} : enterNetns(p.destNetns);
    restoreAt = performance.now();
    try {
      await restore({
        dir: finalDir, detach: true, tcpEstablished: p.tcp, networkLock: 'skip', lazyPages: lazy !== undefined,
        onEvent: (e) => { if (e.type === 'phase' && e.phase === 'running') runningAt = performance.now(); },
      });
    } finally {
      back();
    }
  } finally {
    dumped.releaseMemory?.();
  }
  task.at = 'destination';
  await actionScript(p.script, 'network-unlock');
  const f = (a: number, b: number) => (b - a).toFixed(0);
  say(`restored as PID ${p.pid} at the destination; frozen ${f(frozenAt, runningAt)} ms (from its stop at the source to running at the destination: dump, copy and post-dump ${f(frozenAt, dumpedAt)} ms, waiting for the PID ${f(dumpedAt, restoreAt)} ms, restore ${f(restoreAt, runningAt)} ms)`);
}
