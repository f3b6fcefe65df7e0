// Restores the CRIU 4.2 `tree` fixture: parent 18485 (session and group leader) with children
// 18486 (its group; holds the write end of a pipe with 40 unread bytes whose read end only the
// parent holds) and 18487 (its own group). Same PIDs, parents and groups, and the parent's own
// check (the children's getppid/getpgrp, 40 + 8 bytes through the pipe, both exit codes) passes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { restore } from '../../src/restore/index.js';
import { readStat } from '../../src/proc/index.js';
import { becomeSubreaper, copyImages, FIXTURE_DIR, waitGone } from '../helpers/restore-env.js';
import { fixturesDir } from '../helpers/paths.js';
import { onlyOn } from '../helpers/arch-only.js';
import { fixtureCpuSkip } from '../helpers/cpu.js';

const skip = onlyOn(['x64'], 'fixtures dumped on x86_64');

const PID = 18485;
const CHILDREN = [18486, 18487];
const OUT = `${FIXTURE_DIR}/tree.out`;

becomeSubreaper();

function prepareTreeFixture(): void {
  mkdirSync(path.join(FIXTURE_DIR, 'bin'), { recursive: true });
  const bin = path.join(FIXTURE_DIR, 'bin', 'tree');
  const src = path.join(fixturesDir, 'bin', 'tree');
  if (!existsSync(bin) || statSync(bin).size !== statSync(src).size) copyFileSync(src, bin);
  rmSync(OUT, { force: true });
}

test('restore() brings back the tree fixture: same PIDs, parents, groups, pipe data, and it passes its own check', { skip: skip || fixtureCpuSkip('tree') }, async () => {
  prepareTreeFixture();
  const dir = copyImages('tree');
  const r = await restore({ dir });
  try {
    assert.equal(r.pid, PID);
    const st = (pid: number) => readStat(pid);
    assert.deepEqual(CHILDREN.map((c) => [st(c).ppid, st(c).pgrp, st(c).session]), [[PID, PID, PID], [PID, 18487, PID]]);
    assert.equal(st(PID).session, PID);
    process.kill(PID, 'SIGTERM');
    const status = await r.wait!();
    assert.deepEqual(status, { code: 0, signal: null });
    assert.equal(readFileSync(OUT, 'utf8').trim(), 'PASS');
  } finally {
    for (const pid of [PID, ...CHILDREN]) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    waitGone(PID);
    rmSync(dir, { recursive: true, force: true });
  }
});
