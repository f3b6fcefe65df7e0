// A time namespace made for children (unshare(CLONE_NEWTIME)) that none has entered yet: cryo
// cannot give a restored task one, so the dump refuses it, as CRIU does (zdtm timens_for_kids),
// naming the thread that made it; the task runs on with it (its children land there). A task
// that made none is dumped and restored, its children in its own time namespace.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { dump, DumpError } from '../../src/dump/index.js';
import { startTarget } from '../helpers/dump-target.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

let plain: Dumped | undefined;
after(() => cleanupDumped(plain));

for (const mode of ['', 'thread']) {
  test(`a time namespace made for children by the ${mode || 'process'} is refused at dump; the task runs on with it`, async () => {
    const t = startTarget('rt-timens-kids', mode ? [mode] : []);
    const dir = mkdtempSync(path.join(t.dir, 'images-'));
    try {
      const who = mode ? `thread ${t.ready.unsharer} of task ${t.pid}` : `task ${t.pid}`;
      await assert.rejects(dump({ pid: t.pid, dir }), (e: unknown) => {
        assert.ok(e instanceof DumpError && e.code === 'UNSUPPORTED', String(e));
        assert.match(e.message, new RegExp(`^${who} made a time namespace for its children \\(unshare CLONE_NEWTIME: its ns/time_for_children is not its ns/time\\) that none has entered yet: cryo cannot restore that \\(neither can CRIU\\); dump it before that unshare$`));
        return true;
      });
      assert.equal(t.finish(), 'PASS');
    } finally {
      t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a task that made no time namespace for its children is dumped and restored; its children stay in its own', async () => {
  plain = await startAndDump('rt-timens-kids', ['none']);
  assert.equal(await restoreAndFinish(plain), 'PASS');
});
