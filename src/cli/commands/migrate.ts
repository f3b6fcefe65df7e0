// cryo migrate -t PID -D DIR --dest-dir DIR2 --address A --port N [--src-netns F] [--dest-netns F]
//   [--max-pre-dumps K] [--tcp-established] [--lazy-pages] [--action-script S]
// The README's migration steps in one command, both ends on this machine (two network namespaces):
// pre-dumps to a page server at the destination until the pages each writes stop shrinking (or K),
// the final dump (the task ends at the source), then the restore at the destination, run here in
// its network namespace so that the task is started by a cryo already loaded. CRIU's action script
// hooks frame the freeze: network-lock before the final dump, post-dump after it, network-unlock
// once the task runs again. Prints one line per step and the freeze; exits 0 when the task runs at
// the destination, 1 with one line otherwise (saying where the task is).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Command, UsageError } from '../command.js';
import { specs } from './specs.js';
import { restore, RestoreError } from '../../restore/index.js';
import { hashMemoryImages } from '../../images/index.js';
import { MigrateError, type Step, actionScript, completeServerDir, cryoStep, enterNetns, listening, pageServer, pagesWritten, pidGone } from './migrate-steps.js';

interface Plan {
  pid: number; src: string; dest: string; address: string; port: number;
  srcNetns?: string; destNetns?: string; maxPreDumps: number; tcp: string[]; lazy: boolean; script?: string;
}

const say = (line: string) => process.stdout.write(`cryo migrate: ${line}\n`);

export const migrateCommand: Command = {
  ...specs.migrate,
  async run(args) {
    const plan = parse(args);
    let srcGone = false;
    try {
      await migrate(plan, () => { srcGone = true; });
      return 0;
    } catch (e) {
      if (!(e instanceof MigrateError || e instanceof RestoreError)) throw e;
      const where = srcGone
        ? `task ${plan.pid} is gone from the source; its images are in ${path.join(plan.dest, 'final')}: restore them there with cryo restore -D`
        : `task ${plan.pid} runs on at the source`;
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
  if (v.tree === undefined || !/^\d+$/.test(v.tree)) throw new UsageError('-t PID is required');
  if (v['images-dir'] === undefined || v['dest-dir'] === undefined) throw new UsageError('-D DIR (the source\'s images) and --dest-dir DIR (the destination\'s) are required');
  if (v.address === undefined || v.port === undefined || !/^\d+$/.test(v.port) || Number(v.port) < 1 || Number(v.port) > 65535) {
    throw new UsageError('--address A --port N (1-65535) are required: where the destination\'s page server listens, as the source reaches it');
  }
  const max = v['max-pre-dumps'] ?? '4';
  if (!/^\d+$/.test(max) || Number(max) < 1) throw new UsageError('--max-pre-dumps K: K is a count of at least 1');
  return {
    pid: Number(v.tree), src: path.resolve(v['images-dir']), dest: path.resolve(v['dest-dir']), address: v.address, port: Number(v.port),
    srcNetns: v['src-netns'], destNetns: v['dest-netns'], maxPreDumps: Number(max),
    tcp: v['tcp-established'] ? ['--tcp-established'] : [], lazy: v['lazy-pages'] ?? false, script: v['action-script'],
  };
}

/** One dump of the chain (pre-dump or final), its pages sent to a page server at the destination. */
async function dumpStep(p: Plan, kind: 'pre-dump' | 'dump', name: string, parent: string | undefined, onLine?: (l: string, at: number) => void): Promise<void> {
  const prev = parent === undefined ? [] : ['--prev-images-dir', `../${parent}`];
  const server = await pageServer(path.join(p.dest, name), p.address, p.port, parent && `../${parent}`, p.destNetns);
  const d = cryoStep([kind, '-t', String(p.pid), '-D', path.join(p.src, name), ...prev, '--page-server', '--address', p.address, '--port', String(p.port), ...p.tcp, '-v'], p.srcNetns, onLine);
  try {
    await d.done;
  } catch (e) {
    server.kill();
    throw new MigrateError(`${kind} ${name}: ${(e as Error).message}`);
  }
  await server.done.catch((e: Error) => { throw new MigrateError(`page server for ${name}: ${e.message}`); });
}

async function migrate(p: Plan, sourceGone: () => void): Promise<void> {
  for (const d of [p.src, p.dest]) mkdirSync(d, { recursive: true, mode: 0o700 });
  // Pre-copy: each pre-dump writes what the task wrote since the last; stop when that stops shrinking.
  let parent: string | undefined;
  let last = Infinity;
  for (let i = 1; i <= p.maxPreDumps; i++) {
    const name = `pre${i}`;
    const t0 = performance.now();
    await dumpStep(p, 'pre-dump', name, parent);
    // Hashed now, while the task runs: the restore checks the chain against these in the freeze.
    hashMemoryImages(path.join(p.dest, name));
    parent = name;
    const pages = pagesWritten(path.join(p.src, name));
    say(`pre-dump ${i}: ${pages} pages in ${(performance.now() - t0).toFixed(0)} ms`);
    if (pages >= last) break;
    last = pages;
  }
  const finalDir = path.join(p.dest, 'final');
  // lazy-pages starts before the freeze (a Node start takes 100s of ms): it reads the images only
  // when the restore hands it the task.
  let lazy: Step | undefined;
  if (p.lazy) {
    mkdirSync(finalDir, { recursive: true, mode: 0o700 });
    lazy = await listening(['lazy-pages', '-D', finalDir], undefined);
  }
  let frozenAt = 0;
  let dumpedAt = 0;
  let restoreAt = 0;
  let runningAt = 0;
  try {
    await actionScript(p.script, 'network-lock');
    const t0 = performance.now();
    try {
      await dumpStep(p, 'dump', 'final', parent, (l, at) => { if (l === 'cryo: seize') frozenAt = at; });
    } catch (e) {
      // The task runs on at the source: let its network go again (as CRIU does when a dump fails).
      await actionScript(p.script, 'network-unlock').catch(() => {});
      throw e;
    }
    sourceGone();
    completeServerDir(path.join(p.src, 'final'), finalDir);
    say(`dump: ${pagesWritten(finalDir)} pages in ${(performance.now() - t0).toFixed(0)} ms; task ${p.pid} ended at the source`);
    await actionScript(p.script, 'post-dump');
    dumpedAt = performance.now();
    if (!(await pidGone(p.pid, 20_000))) throw new MigrateError(`PID ${p.pid} is still held at the source (a zombie its parent has not reaped), so the destination cannot take it`);
    const back = p.destNetns === undefined ? () => {} : enterNetns(p.destNetns);
    restoreAt = performance.now();
    try {
      await restore({
        dir: finalDir, detach: true, tcpEstablished: p.tcp.length > 0, lazyPages: p.lazy,
        onEvent: (e) => { if (e.type === 'phase' && e.phase === 'running') runningAt = performance.now(); },
      });
    } finally {
      back();
    }
  } catch (e) {
    lazy?.kill();
    throw e;
  }
  await actionScript(p.script, 'network-unlock');
  const f = (a: number, b: number) => (b - a).toFixed(0);
  say(`restored as PID ${p.pid} at the destination; frozen ${f(frozenAt, runningAt)} ms (from its stop at the source to running at the destination: dump, copy and post-dump ${f(frozenAt, dumpedAt)} ms, waiting for the PID ${f(dumpedAt, restoreAt)} ms, restore ${f(restoreAt, runningAt)} ms)`);
  if (lazy) {
    await lazy.done.catch((e: Error) => { throw new MigrateError(`lazy-pages: ${e.message}`); });
    say('lazy-pages: every page arrived');
  }
}
