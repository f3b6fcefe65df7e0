// Restores the CRIU 4.2 `single` fixture (one process, PID 18187) and checks
// that it runs on: its own check, run on SIGTERM, must write PASS.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn as spawnChild } from 'node:child_process';
import { readFileSync, readlinkSync, rmSync } from 'node:fs';
import { restore } from '../../src/restore/index.js';
import { waitpid, sleepSync } from '../../src/sys/index.js';
import { cryoCli, runCryo } from '../helpers/cryo-cli.js';
import { becomeSubreaper, copyImages, FIXTURE_DIR, nothingLeftBehind, prepareSingleFixture, waitGone } from '../helpers/restore-env.js';
import { onlyOn } from '../helpers/arch-only.js';
import { fixtureCpuSkip } from '../helpers/cpu.js';

const skip = onlyOn(['x64'], 'fixtures dumped on x86_64');

const PID = 18187;
const OUT = `${FIXTURE_DIR}/single.out`;

becomeSubreaper();

/** The counter word of the fixture advances: read it twice from /proc/PID/mem is overkill; its check runs on SIGTERM. */
function passed(): string {
  return readFileSync(OUT, 'utf8').trim();
}

test('restore() brings back the single fixture: same PID, exe, fds, and it passes its own check', { skip: skip || fixtureCpuSkip('single') }, async () => {
  prepareSingleFixture();
  const dir = copyImages('single');
  const events: string[] = [];
  const r = await restore({ dir, onEvent: (e) => events.push(e.type === 'phase' ? e.phase : `warning: ${e.message}`) });
  try {
    assert.equal(r.pid, PID);
    assert.deepEqual(events.filter((e) => !e.startsWith('warning')), ['preflight', 'stub', 'memory', 'files', 'task-state', 'resume', 'running']);
    assert.equal(readFileSync(`/proc/${PID}/comm`, 'utf8').trim(), 'single');
    assert.equal(readlinkSync(`/proc/${PID}/exe`), `${FIXTURE_DIR}/bin/single`);
    assert.equal(readlinkSync(`/proc/${PID}/fd/3`), `${FIXTURE_DIR}/single.log`);
    assert.equal(readlinkSync(`/proc/${PID}/fd/0`), '/dev/null');
    assert.equal(readlinkSync(`/proc/${PID}/cwd`), '/');
    const stat = readFileSync(`/proc/${PID}/stat`, 'utf8');
    const [state, , , sid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    assert.match(state!, /[RS]/);
    assert.equal(Number(sid), PID, 'the task leads its own session again');
    await new Promise((res) => setTimeout(res, 100)); // let the counter advance
    process.kill(PID, 'SIGTERM');
    const st = await r.wait!();
    assert.deepEqual(st, { code: 0, signal: null });
    assert.equal(passed(), 'PASS');
  } finally {
    try { process.kill(PID, 'SIGKILL'); } catch { /* gone */ }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cryo restore -d returns at once and leaves the task running', { skip: skip || fixtureCpuSkip('single') }, () => {
  prepareSingleFixture();
  const dir = copyImages('single');
  try {
    const res = runCryo(['restore', '-D', dir, '-d', '--pidfile', `${dir}/pid`]);
    assert.equal(res.status, 0, res.stderr.toString());
    assert.equal(readFileSync(`${dir}/pid`, 'utf8').trim(), String(PID));
    // cryo exited: the task was reparented to this subreaper.
    process.kill(PID, 'SIGTERM');
    const w = waitpid(PID);
    assert.equal(w.pid, PID);
    assert.equal(passed(), 'PASS');
  } finally {
    try { process.kill(PID, 'SIGKILL'); } catch { /* gone */ }
    waitGone(PID);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cryo restore without -d waits for the task and exits with its status', { skip: skip || fixtureCpuSkip('single') }, async () => {
  prepareSingleFixture();
  const dir = copyImages('single');
  try {
    const child = spawnChild(process.execPath, [cryoCli, 'restore', '-D', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    for (const end = Date.now() + 60_000; readFileSafe(`/proc/${PID}/comm`) !== 'single' && Date.now() < end;) sleepSync(25);
    await new Promise((res) => setTimeout(res, 100));
    process.kill(PID, 'SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.equal(passed(), 'PASS');
  } finally {
    try { process.kill(PID, 'SIGKILL'); } catch { /* gone */ }
    waitGone(PID);
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(nothingLeftBehind(PID), undefined);
});

function readFileSafe(file: string): string {
  try { return readFileSync(file, 'utf8').trim(); } catch { return ''; }
}
