// Runs a command under build/bench/bin/runstat: its wall time, exit status and peak memory.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { bin, benchBuildDir } from './paths.js';

export interface RunStat {
  wallMs: number;
  exit: number;
  maxRssBytes: number;
  stdout: string;
  stderr: string;
}

/** The last non-empty line of a tool's error output: what the table shows when it fails. */
export function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  return lines[lines.length - 1] ?? '';
}

export function runStat(cmd: string, args: readonly string[], opts: { timeoutS?: number; env?: NodeJS.ProcessEnv } = {}): RunStat {
  const result = path.join(benchBuildDir, `runstat-${process.pid}.txt`);
  rmSync(result, { force: true });
  const env = { ...process.env, ...opts.env, RUNSTAT_TIMEOUT_S: String(opts.timeoutS ?? 600) };
  const p = spawnSync(bin('runstat'), [result, cmd, ...args], { env, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  if (p.error) throw new Error(`cannot run ${cmd}: ${p.error.message}`);
  let text: string;
  try {
    text = readFileSync(result, 'utf8');
  } catch {
    throw new Error(`runstat gave no result for ${cmd}: ${lastLine(p.stderr)}`);
  }
  const [wall, exit, rss] = text.trim().split(/\s+/).map(Number);
  return { wallMs: wall! / 1e6, exit: exit!, maxRssBytes: rss! * 1024, stdout: p.stdout, stderr: p.stderr };
}
