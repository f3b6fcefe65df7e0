// The tree of test/programs/fault-tree.c (three processes with threads, a pipe, a unix socketpair,
// 64 MiB) as the fault tests use it: started, its state read, dumped by the cryo command with
// CRYO_FAULT, checked after a SIGKILL of cryo, ended with its own verdict.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import path from 'node:path';
import { kill, sleepSync } from '../../src/sys/index.js';
import { cryoCli } from './cryo-cli.js';
import { startTarget, type Target } from './dump-target.js';

export const tracer = (pid: number) => Number(/TracerPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

/** A process's descriptors and what each is. */
export const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).map((fd) => `${fd} ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`).sort();

export interface Tree { t: Target; pids: number[]; maps: string[]; fds: string[][] }

export function startTree(): Tree {
  const t = startTarget('fault-tree');
  const pids = [t.pid, Number(t.ready.c1), Number(t.ready.c2)];
  return { t, pids, maps: pids.map((p) => readFileSync(`/proc/${p}/maps`, 'utf8')), fds: pids.map(fds) };
}

export function endTree(tree: Tree): string {
  try {
    return tree.t.finish();
  } finally {
    for (const p of tree.pids.slice(1)) { try { kill(p, 9); } catch { /* ended */ } }
    tree.t.cleanup();
  }
}

/** Each thread's run state (stopped or not), tracer, blocked and pending signals, and the process's shared queue. */
export function threadStates(pid: number): string[] {
  const field = (text: string, k: string) => new RegExp(`^${k}:\\s+(\\S+)`, 'm').exec(text)?.[1];
  return readdirSync(`/proc/${pid}/task`).sort().map((tid) => {
    let s: string;
    try {
      s = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      return `thread ${tid}: gone`; // exited between the listing and the read (a harmed task may be dying)
    }
    return `thread ${tid}: ${/^State:\s+[tT]/m.test(s) ? 'stopped' : 'runs'}, tracer ${field(s, 'TracerPid')}, blocked ${field(s, 'SigBlk')}, pending ${field(s, 'SigPnd')}/${field(s, 'ShdPnd')}`;
  });
}

/**
 * What a dead cryo may not leave changed: every thread runs (the kernel wakes a dead tracer's
 * tasks; a moment for that), untraced, with its own signal mask and queue. Returns what differs.
 */
export function harmAfterKill(tree: Tree, states: string[][]): string | undefined {
  for (let tries = 0; ; tries++) {
    let why: string | undefined;
    for (const [i, p] of tree.pids.entries()) {
      if (!existsSync(`/proc/${p}/task`)) { why = `process ${p} is gone`; break; }
      const now = threadStates(p);
      const diff = now.find((line, k) => line !== states[i]![k]) ?? (now.length !== states[i]!.length ? 'a thread is gone' : undefined);
      if (diff) { why = `process ${p}: ${diff} (was ${states[i]!.join('; ')})`; break; }
    }
    if (why === undefined || tries >= 100) return why;
    sleepSync(20);
  }
}

/** Runs `cryo dump` of the tree with CRYO_FAULT=`fault`; returns the signal that ended it. */
export function cliDump(tree: Tree, dir: string, env: NodeJS.ProcessEnv): string | null {
  const r = spawnSync(process.execPath, [cryoCli, 'dump', '-t', String(tree.t.pid), '-D', dir, '--leave-running'], { env: { ...process.env, ...env } });
  rmSync(dir, { recursive: true, force: true });
  return r.signal;
}

/** The points of a `cryo dump` of the tree, as CRYO_FAULT_TRACE lists them. */
export function dumpPoints(tree: Tree, env: Record<string, string> = {}): string[] {
  const trace = path.join(tree.t.dir, 'points');
  rmSync(trace, { force: true });
  assert.equal(cliDump(tree, path.join(tree.t.dir, 'count'), { ...env, CRYO_FAULT_TRACE: trace }), null);
  return readFileSync(trace, 'utf8').trim().split('\n');
}

/**
 * Kills `cryo dump` of the tree inside the call it injects at point `n` (CRYO_FAULT=dump:N:kill-in-call)
 * and asserts that it died so and left every thread as `states` (threadStates before) says.
 */
export function killInCallLeavesTree(tree: Tree, n: number, states: string[][], what: string): void {
  assert.equal(cliDump(tree, path.join(tree.t.dir, `in-call-${n}`), { CRYO_FAULT: `dump:${n}:kill-in-call` }), 'SIGKILL', what);
  assert.equal(harmAfterKill(tree, states), undefined, what);
}
