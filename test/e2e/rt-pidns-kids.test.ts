// A PID namespace made for children (unshare(CLONE_NEWPID)) that none of them is in: before the
// first child its ns/pid_for_children gives ENOENT; once that child (PID 1 there) has died, forks
// fail with ENOMEM. A restored task would fork into its own namespace instead (CRIU 4.2 dumps it
// and loses it), so the dump refuses it, naming the thread that made it; the task runs on with it.
// A task that made none is dumped and restored; the program's check sees a lost unshare ("undone":
// the state such a restore gives).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { dump, DumpError } from '../../src/dump/index.js';
import { startTarget } from '../helpers/dump-target.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const dumped: Dumped[] = [];
after(() => dumped.forEach(cleanupDumped));

const WHO: Record<string, string> = { '': 'the process', thread: 'a thread', dead: 'the process (its first child gone)' };
for (const mode of ['', 'thread', 'dead']) {
  test(`a PID namespace made for children by ${WHO[mode]} is refused at dump; the task runs on with it`, async () => {
    const t = startTarget('rt-pidns-kids', mode ? [mode] : []);
    const dir = mkdtempSync(path.join(t.dir, 'images-'));
    try {
      const who = mode === 'thread' ? `thread ${t.ready.unsharer} of task ${t.pid}` : `task ${t.pid}`;
      await assert.rejects(dump({ pid: t.pid, dir }), (e: unknown) => {
        assert.ok(e instanceof DumpError && e.code === 'UNSUPPORTED', String(e));
        assert.match(e.message, new RegExp(`^${who} made a PID namespace for its children \\(unshare CLONE_NEWPID: its ns/pid_for_children is not its ns/pid\\): cryo cannot restore that \\(CRIU dumps it and loses it\\); dump it before that unshare$`));
        return true;
      });
      assert.equal(t.finish(), 'PASS');
    } finally {
      t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a task that made no PID namespace for its children is dumped and restored; its children stay in its own', async () => {
  const d = await startAndDump('rt-pidns-kids', ['none']);
  dumped.push(d);
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('negative: the check sees an unshare lost (the task back in its own PID namespace for children)', async () => {
  const d = await startAndDump('rt-pidns-kids', ['undone']);
  dumped.push(d);
  assert.match(await restoreAndFinish(d), /^FAIL: thread \d+ has pid_for_children 'pid:\[\d+\]' \(errno 0\), not a namespace no child has entered \(ENOENT\)/);
});
