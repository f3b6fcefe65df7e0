// Runs the restore fuzzer's worker (campaign.ts) as a child process and watches it: a case that
// gives no answer within `hangMs` is a hang, a worker that dies in a case is a crash; either is a
// finding and the worker is started again at the next case. Used by the CI test
// (restore-fuzz.test.ts) and by scripts/fuzz-restore.mjs for the long run.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { CaseResult } from './campaign.js';

const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'campaign.js');

export interface FuzzRun {
  seed: number;
  count: number;
  programs?: string[];
  /** A case taking longer than this is a hang (default 120 s: a loaded machine is slow). */
  hangMs?: number;
  onCase?: (r: CaseResult) => void;
}

export interface FuzzSummary {
  cases: number;
  outcomes: Record<CaseResult['outcome'], number>;
  findings: CaseResult[];
}

/** Runs the worker from case `first`; resolves with its results and, if it ended early, the case it ended in. */
function runWorker(run: FuzzRun, first: number, onCase: (r: CaseResult) => void): Promise<{ next: number; died?: string }> {
  return new Promise((resolve) => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'cryo-fuzz-'));
    const args = [worker, root, String(run.seed), String(first), String(run.count - first)];
    if (run.programs) args.push(run.programs.join(','));
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let current = first - 1;
    let next = first;
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    let hung = false;
    const watch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => { hung = true; child.kill('SIGKILL'); }, run.hangMs ?? 120_000);
    };
    watch();
    child.stderr.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-4000); });
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      watch();
      const o = JSON.parse(line) as CaseResult | { start: number };
      if ('start' in o) current = o.start;
      else { onCase(o); next = o.i + 1; }
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      rmSync(root, { recursive: true, force: true });
      if (next >= run.count) resolve({ next });
      else if (current < next) resolve({ next, died: `the worker ended before case ${next} (${signal ?? code}): ${stderr.trim()}` });
      else resolve({ next: current + 1, died: `case ${current}: ${hung ? 'hang (no answer in time)' : `the worker died (${signal ?? code})`}: ${stderr.trim()}` });
    });
  });
}

export async function runFuzz(run: FuzzRun): Promise<FuzzSummary> {
  const s: FuzzSummary = { cases: 0, outcomes: { restored: 0, refused: 0, 'failed-after-start': 0, finding: 0 }, findings: [] };
  const onCase = (r: CaseResult) => {
    s.cases++;
    s.outcomes[r.outcome]++;
    if (r.outcome === 'finding') s.findings.push(r);
    run.onCase?.(r);
  };
  for (let first = 0; first < run.count;) {
    const { next, died } = await runWorker(run, first, onCase);
    if (died !== undefined) {
      onCase({ i: next - 1, program: '?', mutations: [], outcome: 'finding', line: died });
      if (next <= first) break; // not even the set-up worked
    }
    first = next;
  }
  return s;
}
