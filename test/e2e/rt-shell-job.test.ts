// A shell job gets its terminal back: test/programs/rt-shell-job.c plays a tiny shell that runs
// the job on a pty of its own (the job's stdio and controlling terminal, its group in front).
// The job is dumped with --shell-job (refused without it), then `cryo restore --shell-job` runs
// as the session leader of a new pty: the restored job finds that terminal as its stdio and
// controlling terminal, with its group in the foreground. Without --shell-job, or from a stdin
// that is no terminal, restore refuses.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn as spawnChild } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { dump, DumpError } from '../../src/dump/index.js';
import { restore } from '../../src/restore/index.js';
import { kill, sleepSync } from '../../src/sys/index.js';
import { startTarget, type Target } from '../helpers/dump-target.js';
import { becomeSubreaper, nothingLeftBehind, waitGone } from '../helpers/restore-env.js';
import { imagesCopy, type Dumped } from '../helpers/round-trip.js';
import { cryoCli, runCryo } from '../helpers/cryo-cli.js';
import { programsBinDir } from '../helpers/paths.js';

let shell: Target | undefined;
let jobPid = 0;
after(() => {
  if (jobPid) { try { kill(jobPid, 9); } catch { /* gone */ } }
  shell?.cleanup();
});

const SIGTERM = 15;

test('a shell job: refused without --shell-job, dumped with it, restored onto the restoring terminal in the foreground', async () => {
  becomeSubreaper();
  shell = startTarget('rt-shell-job', ['shell']);
  jobPid = Number(shell.ready.job);
  const oldTty = shell.ready.tty!;
  const images = path.join(shell.dir, 'images');

  await assert.rejects(dump({ pid: jobPid, dir: path.join(shell.dir, 'refused') }), (e: unknown) => {
    assert.ok(e instanceof DumpError);
    assert.match(e.message, /--shell-job/);
    return true;
  });
  assert.ok(existsSync(`/proc/${jobPid}`), 'the refused dump left the job running');

  await dump({ pid: jobPid, dir: images, shellJob: true });
  assert.ok(waitGone(jobPid), 'the dumped job is gone');
  const info = decodeImageFile(path.join(images, 'tty-info.img')).entries.map((e) => e.value);
  assert.equal(info.length, 1, 'only the slave: its master is the shell\'s');
  assert.equal(Number(info[0]!.pgrp), jobPid, 'the job was in front');
  assert.equal(Number((info[0]!.pty as MessageValue).index), Number(oldTty.split('/').pop()));
  const d: Dumped = { target: shell, pid: jobPid, images, readyLine: '' };

  // Without --shell-job the restore names the option.
  await assert.rejects(restore({ dir: imagesCopy(d), detach: true }), /--shell-job/);
  // With it, from a stdin that is no terminal: refused, naming the terminal it needs.
  const piped = runCryo(['restore', '--shell-job', '-D', imagesCopy(d)], '');
  assert.notEqual(piped.status, 0);
  assert.match(piped.stderr.toString(), /stdin is not a terminal/);
  assert.equal(nothingLeftBehind(jobPid), undefined);

  // From a new terminal: `cryo restore --shell-job` as its session leader.
  const log = path.join(shell.dir, 'run.log');
  const pidfile = path.join(shell.dir, 'restored.pid');
  const run = spawnChild(path.join(programsBinDir, 'rt-shell-job'),
    [log, shell.dir, 'run', process.execPath, cryoCli, 'restore', '--shell-job', '-D', imagesCopy(d), '--pidfile', pidfile], { stdio: 'ignore' });
  const ended = new Promise<number | null>((resolve) => run.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 20_000;
  while (!existsSync(pidfile) && run.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(existsSync(pidfile), `restore did not finish: ${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
  assert.equal(Number(readFileSync(pidfile, 'utf8')), jobPid);
  sleepSync(50);
  kill(jobPid, SIGTERM);
  const code = await ended;
  const newTty = readFileSync(log, 'utf8').split('\n')[0]!.replace(/^tty=/, '');
  const verdict = readFileSync(path.join(shell.dir, 'job.txt'), 'utf8').trim().split('\n').slice(1).join('\n');
  assert.equal(verdict, `PASS tty=${newTty}`, readFileSync(log, 'utf8'));
  assert.notEqual(newTty, oldTty);
  assert.equal(code, 0, 'cryo restore exits with the job\'s status');
  assert.match(readFileSync(log, 'utf8'), /job: hello/, 'the job wrote to the new terminal');
  jobPid = 0;
  assert.equal(shell.finish(), 'PASS');
});

test('the shell\'s checks can fail: a job nothing ended, a terminal whose settings changed', () => {
  const running = startTarget('rt-shell-job', ['shell']);
  try {
    assert.match(running.finish(), /^FAIL: the job \d+ was still running: nothing ended it/);
  } finally {
    running.cleanup();
  }
  const changed = startTarget('rt-shell-job', ['shell']);
  try {
    const job = Number(changed.ready.job);
    kill(job, 9);
    assert.ok(waitGone(job), 'the shell reaped its killed job');
    execFileSync('stty', ['-F', changed.ready.tty!, '-echo']);
    assert.match(changed.finish(), /^FAIL: the terminal's settings changed/);
  } finally {
    changed.cleanup();
  }
});
