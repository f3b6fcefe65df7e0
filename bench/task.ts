// The workload process: started, set up, told to reset its gap clock, stopped, checked after restore.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { bin } from './paths.js';

export interface Done {
  maxGapMs: number;
  ok: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readReport(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

async function waitForReport(file: string, prefix: string, timeoutMs: number, what: string): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = readReport(file);
    if (t.startsWith(prefix)) return t;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function parseDone(text: string): Done {
  const gap = /maxgap_ns=(\d+)/.exec(text);
  const ok = /ok=(\d)/.exec(text);
  return { maxGapMs: Number(gap?.[1] ?? NaN) / 1e6, ok: ok?.[1] === '1' };
}

/** Whether any process is still in the session `sid` (a tree's children end after their root). */
function sessionAlive(sid: number): boolean {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[3]) === sid) return true; // field 6: session
    } catch { /* gone */ }
  }
  return false;
}

/** Waits until the PID number is free again: no zombie of the session still holds it as sid/pgid. */
async function waitSessionGone(sid: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (sessionAlive(sid) && Date.now() < deadline) await sleep(20);
}

/** Whether a PID has ended (gone, or a zombie waiting to be reaped). */
function ended(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

export class Task {
  private exited: Promise<void>;
  private constructor(private child: ChildProcess, readonly pid: number, readonly report: string, readonly rssAnon: number) {
    this.exited = child.exitCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
  }

  /** Starts `workload REPORT KIND ARGS...` in a session of its own (as a checkpoint tool wants it). */
  static async start(report: string, args: readonly string[]): Promise<Task> {
    rmSync(report, { force: true });
    const child = spawn(bin('workload'), [report, ...args], { detached: true, stdio: 'ignore' });
    if (child.pid === undefined) throw new Error('cannot start the workload');
    const exitedEarly = new Promise<never>((_, rej) => child.once('exit', (c, s) => rej(new Error(`workload ${args.join(' ')} ended during set-up (${c ?? s})`))));
    const ready = await Promise.race([waitForReport(report, 'ready', 120_000, `workload ${args.join(' ')} to set up`), exitedEarly]);
    exitedEarly.catch(() => {});
    return new Task(child, child.pid, report, Number(/rss_anon=(\d+)/.exec(ready)?.[1] ?? 0));
  }

  /** From now on the largest gap counts (what happened during set-up and preconditioning does not). */
  async resetGap(): Promise<void> {
    process.kill(this.pid, 'SIGUSR1');
    await sleep(20);
  }

  /** SIGTERM: it checks its memory, reports its largest gap and exits; waits until reaped. */
  async stop(): Promise<Done> {
    process.kill(this.pid, 'SIGTERM');
    const text = await waitForReport(this.report, 'done', 60_000, `task ${this.pid} to finish`);
    await this.exited;
    await waitSessionGone(this.pid);
    return parseDone(text);
  }

  /** SIGKILL and reap; for clean-up after a failure. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await this.exited;
    await waitSessionGone(this.pid);
  }
}

/** Ends a restored task (not our child) the same way and returns what it reported. */
export async function stopRestored(pid: number, report: string): Promise<Done> {
  rmSync(report, { force: true });
  process.kill(pid, 'SIGTERM');
  const text = await waitForReport(report, 'done', 60_000, `restored task ${pid} to finish`);
  const deadline = Date.now() + 10_000;
  while (!ended(pid) && Date.now() < deadline) await sleep(5);
  await waitSessionGone(pid);
  return parseDone(text);
}

/** Kills whatever still runs under a PID after a failed restore. */
export async function killPid(pid: number): Promise<void> {
  if (!existsSync(`/proc/${pid}`)) return;
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  const deadline = Date.now() + 5_000;
  while (!ended(pid) && Date.now() < deadline) await sleep(5);
  await waitSessionGone(pid);
}
