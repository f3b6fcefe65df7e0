// seccomp state cryo's own calls must get past, and that threads share (zdtm seccomp_filter_threads,
// seccomp_filter_tsync, seccomp_strict). At dump cryo's calls are exempt from the task's filters
// and strict mode (PTRACE_O_SUSPEND_SECCOMP): a filter failing prctl() in one thread, or strict
// mode (where any other call kills), no longer fails the dump or kills the task. At restore,
// filters every thread has are installed once with TSYNC, so the threads share them again (a later
// TSYNC of the task's needs that), and strict mode comes back. Each check shown able to fail by an
// edited image.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageValue } from '../../src/images/index.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const dumped: Dumped[] = [];
after(() => dumped.forEach(cleanupDumped));

async function dumpMode(mode: string): Promise<Dumped> {
  const d = await startAndDump('rt-seccomp-threads', [mode]);
  dumped.push(d);
  return d;
}
const readyNumber = (d: Dumped, key: string) => Number(new RegExp(`${key}=(\\d+)`).exec(d.readyLine)![1]);
const editThread = (file: string, edit: (th: MessageValue, dir: string) => void) => (dir: string) =>
  editImage(dir, file, ([core]) => edit(core!.thread_core as MessageValue, dir));

test('a filter installed before a thread was made is shared by both again: a TSYNC filter added after restore works', async () => {
  const d = await dumpMode('tsync');
  assert.equal(await restoreAndFinish(d), 'PASS');
  // The thread given a copy of the filter of its own: TSYNC then names it.
  const tid = readyNumber(d, 'tid');
  const out = await restoreAndFinish(d, (dir) => {
    let copy = 0;
    editImage(dir, 'seccomp.img', ([s]) => {
      const filters = s!.seccomp_filters as MessageValue[];
      copy = filters.length;
      filters.push({ ...filters[0]! });
    });
    editThread(`core-${tid}.img`, (th) => { th.seccomp_filter = copy; })(dir);
  });
  assert.match(out, new RegExp(`^FAIL: a filter with TSYNC gave ${tid}: thread ${tid} does not share the first filter`));
});

test("a thread's own filter that fails prctl() (which cryo calls at dump) is dumped and restored", async () => {
  const d = await dumpMode('thread');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const out = await restoreAndFinish(d, editThread(`core-${readyNumber(d, 'tid')}.img`, (th) => { th.seccomp_mode = 'disabled'; }));
  assert.match(out, /^FAIL: prctl\(\) in the filtered thread gave errno 0, not 1234/);
});

test('a child in seccomp strict mode is dumped unharmed and restored in strict mode', async () => {
  const d = await dumpMode('strict');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const out = await restoreAndFinish(d, editThread(`core-${readyNumber(d, 'child')}.img`, (th) => { th.seccomp_mode = 'disabled'; }));
  assert.match(out, /^FAIL: the child's getpid\(\) did not kill it \(status 0x500\): it is not in strict mode/);
});
