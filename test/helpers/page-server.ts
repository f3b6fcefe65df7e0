// A `cryo page-server` run as its own process (a dump and its server must not share an event loop),
// optionally inside a network namespace (`ip netns exec NS`).
import { spawn, type ChildProcess } from 'node:child_process';
import { cryoCli } from './cryo-cli.js';

export interface RunningPageServer {
  port: number;
  /** Resolves to its exit status and stderr once it ends. */
  done: Promise<{ status: number | null; stdout: string; stderr: string }>;
  kill(): void;
}

export async function startPageServer(args: string[], netns?: string): Promise<RunningPageServer> {
  const cmd = [process.execPath, cryoCli, 'page-server', '--port', '0', ...args];
  const child: ChildProcess = netns ? spawn('ip', ['netns', 'exec', netns, ...cmd]) : spawn(cmd[0]!, cmd.slice(1));
  let stderr = '';
  let out = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (status) => resolve({ status, stdout: out, stderr })));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    void done.then((r) => reject(new Error(`cryo page-server ended before it listened: ${r.stderr.trim()}`)));
  });
  return { port, done, kill: () => { try { child.kill('SIGKILL'); } catch { /* gone */ } } };
}
