// A pipe whose other end a process outside the dumped tree holds, through the command line:
// test/programs/rt-extpipe.c keeps the write end, a process it left behind (adopted by this test)
// reads. `cryo dump` refuses it and names `--external pipe:[INODE]`; that suggestion makes the
// dump go through. `cryo restore` alone gives the task a new pipe nobody reads (its write fails
// with EPIPE: FAIL); `cryo restore --inherit-fd fd[3]:pipe:[INODE]` with the reader's pipe passed
// as cryo's fd 3 gives it the outside pipe back: the write reaches the outside reader (PASS).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, constants as fsc, cpSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { __WALL, kill, sleepSync, waitpid } from '../../src/sys/index.js';
import { cryoCli, runCryo } from '../helpers/cryo-cli.js';
import { startTarget, type Target } from '../helpers/dump-target.js';
import { becomeSubreaper, waitGone } from '../helpers/restore-env.js';

becomeSubreaper();
let target: Target | undefined;
let holder = 0;
after(() => {
  if (holder) {
    try { kill(holder, 9); waitpid(holder, __WALL); } catch { /* gone */ }
  }
  target?.cleanup();
});

/** cryo restore -d from a fresh copy of `images`, with `fds` as cryo's fds 3, 4, ...; returns the task's verdict on SIGTERM. */
function restoreCli(t: Target, images: string, readyLine: string, extra: string[], fds: number[] = []): string {
  const dir = mkdtempSync(path.join(t.dir, 'restore-'));
  cpSync(images, dir, { recursive: true });
  truncateSync(t.outFile, Buffer.byteLength(readyLine) + 1);
  try {
    const r = spawnSync(process.execPath, [cryoCli, 'restore', '-D', dir, '-d', ...extra], { stdio: ['ignore', 'pipe', 'pipe', ...fds] });
    assert.equal(r.status, 0, `cryo restore: ${r.stderr}`);
    return t.finish();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("cryo dump's --external suggestion for an outside pipe works, and restore --inherit-fd gives the task that pipe back", () => {
  const t = target = startTarget('rt-extpipe');
  holder = Number(t.ready.holder);
  const readyLine = readFileSync(t.outFile, 'utf8').split('\n')[0]!;
  const images = path.join(t.dir, 'images');

  const refused = runCryo(['dump', '-t', String(t.pid), '-D', images]);
  assert.equal(refused.status, 1);
  const m = /--external (pipe:\[\d+\])/.exec(refused.stderr.toString());
  assert.ok(m, `the refusal names --external: ${refused.stderr}`);
  assert.match(refused.stderr.toString(), new RegExp(`is also held by process ${holder} \\(fd ${t.ready.hfd}\\) outside the dumped tree`));
  assert.ok(existsSync(`/proc/${t.pid}`), 'the refused task runs on');

  const dumped = runCryo(['dump', '-t', String(t.pid), '-D', images, '--external', m[1]!]);
  assert.equal(dumped.status, 0, `cryo dump --external: ${dumped.stderr}`);
  waitpid(t.pid, __WALL); // the dump killed it: collect it (this test is its parent)
  assert.ok(waitGone(t.pid));

  // A new pipe: its read end is closed in the restored task, the write fails.
  assert.match(restoreCli(t, images, readyLine, []), /^FAIL: write to the pipe: Broken pipe/);

  // The reader's pipe, opened again from its descriptor and passed to cryo as fd 3.
  const w = openSync(`/proc/${holder}/fd/${t.ready.hfd}`, fsc.O_WRONLY);
  try {
    assert.equal(restoreCli(t, images, readyLine, ['--inherit-fd', `fd[3]:${m[1]}`], [w]), 'PASS');
  } finally {
    closeSync(w);
  }
  const outside = path.join(t.dir, 'outside.txt');
  for (let i = 0; i < 200 && !existsSync(outside); i++) sleepSync(10);
  assert.equal(readFileSync(outside, 'utf8'), 'ping', 'the outside reader got what the restored task wrote');
});

test('cryo restore --inherit-fd refuses a malformed argument', () => {
  const dir = mkdtempSync(path.join('/tmp', 'cryo-inherit-'));
  try {
    const bad = runCryo(['restore', '-D', dir, '--inherit-fd', 'pipe:[1]']);
    assert.equal(bad.status, 1, String(bad.stderr));
    assert.match(bad.stderr.toString(), /--inherit-fd pipe:\[1\]: expected fd\[N\]:pipe:\[INODE\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
