// Restores the CRIU 4.2 `threads` fixture (PID 18322 with threads 18323 "fx-worker-1", counting in
// TLS, and 18324 "fx-worker-2", in pthread_cond_wait) and checks that it runs on: same TIDs and
// names, and its own check, run on SIGTERM, must write PASS.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { restore } from '../../src/restore/index.js';
import { becomeSubreaper, copyImages, FIXTURE_DIR, waitGone } from '../helpers/restore-env.js';
import { fixturesDir } from '../helpers/paths.js';
import { onlyOn } from '../helpers/arch-only.js';
import { fixtureCpuSkip } from '../helpers/cpu.js';

const skip = onlyOn(['x64'], 'fixtures dumped on x86_64');

const PID = 18322;
const THREADS = [18322, 18323, 18324];
const OUT = `${FIXTURE_DIR}/threads.out`;

becomeSubreaper();

function prepareThreadsFixture(): void {
  mkdirSync(path.join(FIXTURE_DIR, 'bin'), { recursive: true });
  const bin = path.join(FIXTURE_DIR, 'bin', 'threads');
  const src = path.join(fixturesDir, 'bin', 'threads');
  if (!existsSync(bin) || statSync(bin).size !== statSync(src).size) copyFileSync(src, bin);
  rmSync(OUT, { force: true });
}

test('restore() brings back the threads fixture: same TIDs, names, and it passes its own check', { skip: skip || fixtureCpuSkip('threads') }, async () => {
  prepareThreadsFixture();
  const dir = copyImages('threads');
  const r = await restore({ dir });
  try {
    assert.equal(r.pid, PID);
    assert.deepEqual(readdirSync(`/proc/${PID}/task`).map(Number).sort((a, b) => a - b), THREADS);
    const comm = (tid: number) => readFileSync(`/proc/${PID}/task/${tid}/comm`, 'utf8').trim();
    assert.deepEqual(THREADS.map(comm), ['threads', 'fx-worker-1', 'fx-worker-2']);
    await new Promise((res) => setTimeout(res, 100)); // worker 1 counts on
    process.kill(PID, 'SIGTERM');
    const st = await r.wait!();
    assert.deepEqual(st, { code: 0, signal: null });
    assert.equal(readFileSync(OUT, 'utf8').trim(), 'PASS');
  } finally {
    try { process.kill(PID, 'SIGKILL'); } catch { /* gone */ }
    waitGone(PID);
    rmSync(dir, { recursive: true, force: true });
  }
});
