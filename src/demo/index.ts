/**
 * src/demo: `cryo demo`, the first thing a newcomer runs. It starts the built-in example program
 * (examples/counter.c), checkpoints it with dump(), shows the images, restores it with restore(),
 * shows it carrying on from where it stopped, then stops it and shows its own PASS/FAIL verdict.
 * Everything happens in a fresh 0700 temp directory, removed at the end; no process is left behind.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import path from 'node:path';
import { hostArch } from '../arch/index.js';
import { dump } from '../dump/index.js';
import { restore, type RestoreResult } from '../restore/index.js';
import { kill } from '../sys/index.js';
import { firstCount, lastCount, readLog, type LogLine } from './counter-log.js';
import { DemoError } from './errors.js';
import { examplePath } from './example.js';
import { formatSummary, summarizeImages } from './image-summary.js';
import { killAndReap, reapGone, startExample } from './processes.js';

export { DemoError } from './errors.js';

export interface DemoOptions {
  /** Keep the demo directory (images and log) instead of removing it. */
  keep?: boolean;
  /** Where the demo's text goes (default: stdout). */
  print?: (line: string) => void;
  /** How long the program runs before the checkpoint and after the restore (ms). */
  runMs?: number;
}


const { SIGTERM, SIGKILL } = constants.signals;
const quote = (lines: readonly LogLine[]) => lines.map((l) => `     | ${l.text}`);

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new DemoError('interrupted'));
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(new DemoError('interrupted')); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs the demo; resolves to the exit status. Throws DemoError (one line) when a step fails. */
export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  let stdoutBroken = false; // e.g. `cryo demo | head`: stop printing, clean up, end
  const print = opts.print ?? ((line: string) => { if (!stdoutBroken) process.stdout.write(`${line}\n`); });
  const runMs = opts.runMs ?? 1200;
  const counter = examplePath('counter');
  const pageSize = (await hostArch()).pageSize;

  const abort = new AbortController();
  const onSignal = () => abort.abort();
  const onStdoutError = () => { stdoutBroken = true; abort.abort(); };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (opts.print === undefined) process.stdout.on('error', onStdoutError);

  const dir = mkdtempSync(path.join(tmpdir(), 'cryo-demo-')); // mode 0700
  const imagesDir = path.join(dir, 'images');
  mkdirSync(imagesDir, { mode: 0o700 });
  const logFile = path.join(dir, 'counter.log');
  const live = new Set<number>(); // processes to kill if anything goes wrong
  // Last resort if cryo itself dies (an uncaught error): no example process outlives it.
  const onExit = () => { for (const p of live) try { kill(p, SIGKILL); } catch { /* gone */ } };
  process.on('exit', onExit);
  try {
    print('cryo demo: checkpoint a running program to disk, then bring it back.');
    print('');
    print('1. Starting the example program (examples/counter.c). It counts, one step every 0.2 s,');
    print('   and keeps 2 MiB of state in memory that every step changes.');
    const pid = startExample(counter, [logFile], dir);
    live.add(pid);
    await sleep(runMs, abort.signal);
    const before = readLog(logFile);
    const lastBefore = lastCount(before);
    if (lastBefore === undefined) throw new DemoError(`the example program (PID ${pid}) printed nothing to ${logFile}`);
    print(`   PID ${pid}, writing to ${logFile}:`);
    print(quote(before.slice(-3)).join('\n'));
    print('');

    print('2. Checkpointing it: cryo dump stops the process and writes its state into image files.');
    let t = performance.now();
    try {
      await dump({ pid, dir: imagesDir, signal: abort.signal, onEvent: (e) => { if (e.type === 'warning') print(`   warning: ${e.message}`); } });
    } catch (e) {
      throw new DemoError(`dump failed: ${(e as Error).message}`);
    }
    const dumpMs = performance.now() - t;
    const stopped = lastCount(readLog(logFile)) ?? lastBefore;
    if (!reapGone(pid, 3000)) throw new DemoError(`process ${pid} is still there after the dump, which should have ended it`);
    live.delete(pid);
    print(`   Done in ${Math.round(dumpMs)} ms. The images in ${imagesDir}:`);
    for (const line of formatSummary(summarizeImages(imagesDir), pageSize)) print(line ? `   ${line}` : '');
    print(`   Process ${pid} is gone (no /proc/${pid}). It had counted to ${stopped}.`);
    print('');

    print('3. Restoring it: cryo restore rebuilds the process from the images, with the same PID.');
    const logLinesBefore = readLog(logFile).length;
    t = performance.now();
    let restored: RestoreResult;
    try {
      restored = await restore({ dir: imagesDir, signal: abort.signal, onEvent: (e) => { if (e.type === 'warning') print(`   warning: ${e.message}`); } });
    } catch (e) {
      throw new DemoError(`restore failed: ${(e as Error).message}`);
    }
    live.add(restored.pid);
    print(`   Done in ${Math.round(performance.now() - t)} ms. PID ${restored.pid} is running again:`);
    await sleep(runMs, abort.signal);
    const after = readLog(logFile).slice(logLinesBefore);
    const resumedAt = firstCount(after);
    print(quote(after.slice(0, 3)).join('\n'));
    if (resumedAt === undefined) throw new DemoError(`the restored process ${restored.pid} printed nothing in ${runMs} ms`);
    if (resumedAt !== stopped + 1) {
      throw new DemoError(`the restored process went on at count ${resumedAt}, not at ${stopped + 1} where it stopped`);
    }
    print(`   It carried on from count ${resumedAt}, right after ${stopped} where it stopped (not from 0).`);
    print('');

    print('4. Stopping it with SIGTERM: it replays every step it counted and compares the result');
    print('   with the 2 MiB of state in its memory.');
    const linesBeforeStop = readLog(logFile).length;
    kill(restored.pid, SIGTERM);
    const status = await Promise.race([
      restored.wait?.() ?? Promise.resolve(undefined),
      sleep(10_000, abort.signal).then(() => 'timeout' as const),
    ]);
    if (status === 'timeout') throw new DemoError(`the restored process ${restored.pid} did not end within 10 s of SIGTERM`);
    if (status === undefined && !reapGone(restored.pid, 10_000)) throw new DemoError(`the restored process ${restored.pid} did not end after SIGTERM`);
    live.delete(restored.pid);
    const verdict = readLog(logFile).slice(linesBeforeStop).find((l) => /^(PASS|FAIL)/.test(l.text));
    if (verdict === undefined) throw new DemoError(`the restored process ended (${describe(status)}) without printing PASS or FAIL`);
    print(quote([verdict]).join('\n'));
    print('');
    const passed = verdict.text.startsWith('PASS') && (status === undefined || status.code === 0);
    print(passed
      ? 'The process survived a checkpoint and a restore with its memory intact.'
      : `The restored process reported a failure (${describe(status)}).`);
    print(opts.keep
      ? `Kept ${dir}: try \`cryo x ${imagesDir} ps\` or \`cryo show ${path.join(imagesDir, `core-${pid}.img`)}\`.`
      : 'Removed the demo directory (keep it with `cryo demo --keep`).');
    return passed ? 0 : 1;
  } finally {
    for (const p of live) killAndReap(p);
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.stdout.off('error', onStdoutError);
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  }
}

function describe(status: { code: number | null; signal: number | null } | undefined): string {
  if (status === undefined) return 'exit status unknown';
  return status.code !== null ? `exit code ${status.code}` : `killed by signal ${status.signal}`;
}
