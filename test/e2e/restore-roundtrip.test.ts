// Round trip through cryo's own dump: test/programs/restore-counter.c -> dump (kills it) ->
// restore -> SIGUSR1 -> it counts 20 more and says so (DIR/counted) -> SIGTERM -> the program
// checks its state: PASS. Counting on after the restore is proven by the program's count after a
// signal sent after the restore, not by waiting some time.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { constants } from 'node:os';
import { restore } from '../../src/restore/index.js';
import { kill, sleepSync } from '../../src/sys/index.js';
import { cleanupDumped, imagesCopy, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { nothingLeftBehind } from '../helpers/restore-env.js';

const SIG = constants.signals;
let d: Dumped | undefined;
after(() => cleanupDumped(d));

test('restore-counter: dump -> gone -> restore -> counts on -> SIGTERM -> PASS', async () => {
  d = await startAndDump('restore-counter');
  assert.equal(Number(d.target.ready.pid), d.pid);
  const counted = path.join(d.target.dir, 'counted');
  const r = await restore({ dir: imagesCopy(d) });
  assert.equal(r.pid, d.pid);
  assert.match(readFileSync(`/proc/${d.pid}/stat`, 'utf8'), /^\d+ \(restore-counter\) [RS] /);
  assert.ok(!existsSync(counted));
  kill(d.pid, SIG.SIGUSR1);
  for (const end = Date.now() + 60_000; !existsSync(counted); sleepSync(10)) {
    assert.ok(Date.now() < end, `the restored counter did not count 20 after SIGUSR1: ${d.target.output()}`);
  }
  assert.equal(d.target.finish(), 'PASS');
  assert.equal(nothingLeftBehind(d.pid), undefined);
});

test('restore-counter notices a restored task that did not count on', async () => {
  assert.ok(d, 'the dump of the test above');
  rmSync(path.join(d.target.dir, 'counted'), { force: true });
  truncateSync(d.target.outFile, Buffer.byteLength(d.readyLine) + 1);
  await restore({ dir: imagesCopy(d) });
  // SIGUSR1 and SIGTERM arrive together (the lower number first): no count between them.
  kill(d.pid, SIG.SIGSTOP);
  kill(d.pid, SIG.SIGUSR1);
  kill(d.pid, SIG.SIGTERM);
  assert.match(d.target.finish(60_000, SIG.SIGCONT), /^FAIL: counted [01] times after SIGUSR1, want 20/);
  assert.equal(nothingLeftBehind(d.pid), undefined);
});
