// Round trip through cryo's own dump: test/programs/restore-counter.c -> dump (kills it) ->
// restore -> it counts on for a while -> SIGTERM -> the program checks its state: PASS.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { restore } from '../../src/restore/index.js';
import { sleepSync } from '../../src/sys/index.js';
import { cleanupDumped, imagesCopy, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { nothingLeftBehind } from '../helpers/restore-env.js';

let d: Dumped | undefined;
after(() => cleanupDumped(d));

test('restore-counter: dump -> gone -> restore -> counts on -> SIGTERM -> PASS', async () => {
  d = await startAndDump('restore-counter');
  assert.equal(Number(d.target.ready.pid), d.pid);
  const r = await restore({ dir: imagesCopy(d) });
  assert.equal(r.pid, d.pid);
  assert.match(readFileSync(`/proc/${d.pid}/stat`, 'utf8'), /^\d+ \(restore-counter\) [RS] /);
  sleepSync(300); // it counts on: the program wants more than 20 more counts (10 ms each)
  assert.equal(d.target.finish(), 'PASS');
  assert.equal(nothingLeftBehind(d.pid), undefined);
});
