// `cryo demo` end to end: the example program is checkpointed, restored, carries on from where it
// stopped and passes its own memory check; nothing is left behind, also when a step fails.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { withoutNodeNoise } from '../helpers/node-noise.js';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

interface Run { code: number; stdout: string; stderr: string }

async function runDemo(env: Record<string, string> = {}): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, 'demo'], {
      timeout: 60_000, env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr: withoutNodeNoise(stderr) };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    if (typeof err.code !== 'number') throw e;
    return { code: err.code, stdout: err.stdout ?? '', stderr: withoutNodeNoise(err.stderr ?? '') };
  }
}

/** The demo directory the run announced (it prints where the program writes its log). */
function demoDir(stdout: string): string {
  const m = /writing to (\/\S+)\/counter\.log/.exec(stdout);
  assert.ok(m, `the demo names its directory:\n${stdout}`);
  return m[1]!;
}

/** PIDs of live processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'latin1').includes(text)) out.push(Number(d));
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

test('cryo demo checkpoints and restores the example program, which carries on and passes', async () => {
  const r = await runDemo();
  assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  const pid = Number(/PID (\d+), writing to/.exec(r.stdout)?.[1]);
  assert.ok(pid > 0);
  const stopped = Number(/It had counted to (\d+)\./.exec(r.stdout)?.[1]);
  assert.ok(stopped > 0, r.stdout);
  assert.match(r.stdout, new RegExp(`PID ${pid} is running again`));
  assert.match(r.stdout, new RegExp(`It carried on from count ${stopped + 1}, right after ${stopped}`));
  // The counter's own lines after the restore start at stopped + 1.
  assert.match(r.stdout, new RegExp(`\\| count ${stopped + 1} `));
  assert.match(r.stdout, /\| PASS: counted to \d+, 2 MiB of state intact/);
  const dir = demoDir(r.stdout);
  assert.equal(existsSync(dir), false, 'the demo directory is removed');
  assert.deepEqual(processesMentioning(dir), [], 'no process of the demo is left');
});

test('when restore fails, cryo demo prints its one-line error, exits 1 and leaves nothing behind', async () => {
  const r = await runDemo({ CRYO_FAULT: 'restore:memory' });
  assert.equal(r.code, 1, r.stdout);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^cryo demo: restore failed: .*CRYO_FAULT=restore:memory/);
  const dir = demoDir(r.stdout);
  assert.equal(existsSync(dir), false);
  assert.deepEqual(processesMentioning(dir), []);
});
