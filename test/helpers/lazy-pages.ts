// A `cryo lazy-pages -D DIR` run as its own process (it serves faults of memory cryo itself may touch while restoring).
import { spawn } from 'node:child_process';
import { cryoCli } from './cryo-cli.js';

export interface RunningLazyPages {
  done: Promise<{ status: number | null; stdout: string; stderr: string }>;
  /** Its process (SIGSTOP holds its copying back). */
  pid: number;
  kill(): void;
}

/** `args`: more options (--page-server --address A --port N). */
export async function startLazyPages(dir: string, args: string[] = []): Promise<RunningLazyPages> {
  const child = spawn(process.execPath, [cryoCli, 'lazy-pages', '-D', dir, ...args]);
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('listening')) resolve();
    });
    void done.then((r) => reject(new Error(`cryo lazy-pages ended before it listened: ${r.stderr.trim()}`)));
  });
  return { done, pid: child.pid!, kill: () => { try { child.kill('SIGKILL'); } catch { /* gone */ } } };
}
