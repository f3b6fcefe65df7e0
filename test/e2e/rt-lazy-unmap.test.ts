// A task that unmaps memory whose lazy pages have not arrived yet (test/programs/rt-lazy-unmap.c:
// 256 MiB, of which SIGUSR1 unmaps the upper three quarters): `cryo lazy-pages`, held back by
// SIGSTOP until the unmap is done, skips the pages it can no longer place and ends well; the task
// finds the rest of its memory byte for byte.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { constants } from 'node:os';
import { __WALL, kill, sleepSync, waitpid } from '../../src/sys/index.js';
import { readMaps } from '../../src/proc/index.js';
import { dumpTask, restoreTask } from '../helpers/cryo-ops.js';
import { startTarget } from '../helpers/dump-target.js';
import { becomeSubreaper, cleanedUpAfterFile, nothingLeftBehind, waitGone } from '../helpers/restore-env.js';
import { startLazyPages } from '../helpers/lazy-pages.js';
import { hostArch } from '../../src/arch/index.js';

const { SIGSTOP, SIGCONT, SIGUSR1 } = constants.signals;
const pageSize = BigInt((await hostArch()).pageSize);

const { targets } = cleanedUpAfterFile();

test('lazy pages of memory the task unmapped before they came are skipped; the rest arrives byte for byte', async () => {
  becomeSubreaper();
  const t = startTarget('rt-lazy-unmap');
  targets.push(t);
  const pid = t.pid;
  const ready = readFileSync(t.outFile, 'utf8').split('\n')[0]!;
  const m = /area=([0-9a-f]+) units=(\d+) kept=(\d+)/.exec(ready)!;
  const area = BigInt(`0x${m[1]!}`);
  const areaPages = (BigInt(m[2]!) * 4096n) / pageSize;
  const gone = area + BigInt(m[3]!) * 4096n;
  const dir = path.join(t.dir, 'dump');
  await dumpTask({ pid, dir });
  try { waitpid(pid, __WALL); } catch { /* reaped */ }
  assert.ok(waitGone(pid));

  const server = await startLazyPages(dir);
  try {
    const r = await restoreTask({ dir, lazyPages: true });
    assert.equal(r.pid, pid);
    // lazy-pages copies in address order from the handover on: stopped now, it has not reached the upper part.
    kill(server.pid, SIGSTOP);
    kill(pid, SIGUSR1);
    const unmappedWithin = (ms: number): boolean => {
      for (const end = Date.now() + ms; Date.now() < end; sleepSync(5)) {
        if (!readMaps(pid).some((v) => v.start <= gone && gone < v.end)) return true;
      }
      return false;
    };
    // The handler may fault on a lazy page (its stack): then lazy-pages must go on for the unmap to
    // come, serving that fault before the background copy gets far.
    const whileStopped = unmappedWithin(1000);
    kill(server.pid, SIGCONT);
    const unmapped = whileStopped || unmappedWithin(10_000);
    const s = await server.done;
    assert.equal(s.status, 0, `cryo lazy-pages: ${s.stderr}`);
    const line = s.stdout.trim().split('\n').pop() ?? '';
    const copied = Number(/task \d+: (\d+) pages in \d+ ms/.exec(line)?.[1] ?? NaN);
    console.log(`unmapped ${whileStopped ? 'while lazy-pages was stopped' : 'after lazy-pages went on'}; ${line}`);
    assert.ok(unmapped, 'the task unmapped the upper part');
    assert.ok(copied < Number(areaPages), `lazy-pages copied ${copied} pages, fewer than the area's ${areaPages} (${whileStopped ? 'unmapped while it was stopped' : 'unmapped after it went on'}): ${line}`);
    assert.equal(t.finish(), 'PASS');
  } finally {
    server.kill();
    try { kill(pid, 9); waitpid(pid, __WALL); } catch { /* gone */ }
    const left = nothingLeftBehind(pid);
    if (left) throw new Error(`after the restore: ${left}`);
  }
});
