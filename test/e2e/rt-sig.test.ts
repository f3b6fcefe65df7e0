// Signal state comes back exactly as it was: test/programs/rt-sig.c (handlers with every flag,
// mask and restorer, the blocked mask, pending process-wide and thread signals with their
// values, the alternate stack) is dumped, restored and checks itself on SIGTERM. Edited core
// images prove the checks notice a difference. A SIGTRAP handler, or SIGTRAP ignored, survives a
// dump that leaves the task running and a restore (cryo's code in the task ends in a breakpoint).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageValue } from '../../src/images/value.js';
import { writeI32 } from '../../src/sys/native-endian.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { startTarget } from '../helpers/dump-target.js';
import { dump } from '../../src/dump/index.js';
import path from 'node:path';

const SA_RESTART = 0x10000000n;
let d: Dumped | undefined;
after(() => cleanupDumped(d));

/** core-PID.img's index of signal `sig` in tc.sigactions (SIGKILL and SIGSTOP have none). */
const actionIndex = (sig: number) => sig - 1 - (sig > 9 ? 1 : 0) - (sig > 19 ? 1 : 0);

test('signals: actions (flags, mask, restorer), blocked mask, pending with values, altstack', async () => {
  d = await startAndDump('rt-sig');
  const pid = d.pid;
  const core = `core-${pid}.img`;
  assert.equal(await restoreAndFinish(d), 'PASS');

  const tc = (e: MessageValue[]) => e[0]!.tc as MessageValue;
  const th = (e: MessageValue[]) => e[0]!.thread_core as MessageValue;
  const acts = (e: MessageValue[]) => tc(e).sigactions as MessageValue[];
  const noRestart = await restoreAndFinish(d, (dir) => editImage(dir, core, (e) => {
    const a = acts(e)[actionIndex(10)]!;
    a.flags = (a.flags as bigint) & ~SA_RESTART;
  }));
  // The flags besides SA_RESTART are the C library's (x86_64's glibc adds SA_RESTORER, ppc64's does not).
  const m = /^FAIL: signal 10 action differs: handler (0x[0-9a-f]+) flags (0x[0-9a-f]+) restorer \S+ mask \S+, want \1 (0x[0-9a-f]+) /.exec(noRestart);
  assert.ok(m, noRestart);
  assert.equal(BigInt(m[2]!), BigInt(m[3]!) & ~SA_RESTART, noRestart);
  assert.notEqual(BigInt(m[3]!) & SA_RESTART, 0n, noRestart);
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, core, (e) => {
    acts(e)[actionIndex(37)]!.mask = 0n; // SIGRTMIN+3 (glibc's SIGRTMIN is 34) had SIGINT in its mask
  })), /^FAIL: signal 37 action differs: .* mask 0, want /);
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, core, (e) => {
    acts(e)[actionIndex(28)]!.sigaction = 0n; // SIGWINCH was ignored
  })), /^FAIL: signal 28 action differs: handler 0 /);
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, core, (e) => {
    tc(e).blk_sigset = (tc(e).blk_sigset as bigint) | (1n << 11n); // SIGUSR2 blocked too
  })), /^FAIL: signal 12 is blocked/);
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, core, (e) => { delete tc(e).signals_s; })),
    /^FAIL: SIGUSR1 is not pending/);
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, core, (e) => {
    const q = (th(e).signals_p as MessageValue).signals as MessageValue[];
    writeI32(q[1]!.siginfo as Buffer, 4444, 24); // si_value of the second SIGRTMIN+3 (in the task's byte order)
  })), /^FAIL: SIGRTMIN\+3 arrived 2 times \(values 2222, 4444\), want 2222 then 3333/);
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, core, (e) => {
    (th(e).sas as MessageValue).ss_size = 32768n;
  })), /^FAIL: altstack 0x[0-9a-f]+ size 32768 flags 0, want/);
});

test('SIGTRAP: its handler, or its SIG_IGN, survives a dump that leaves the task running, and a restore', async () => {
  for (const args of [[], ['trap-ignored']]) {
    const t = startTarget('rt-sig', args);
    try {
      await dump({ pid: t.pid, dir: path.join(t.dir, 'images'), leaveRunning: true });
      assert.equal(t.finish(), 'PASS', `rt-sig ${args.join(' ')} left running`);
    } finally {
      t.cleanup();
    }
  }
  const ign = await startAndDump('rt-sig', ['trap-ignored']);
  try {
    assert.equal(await restoreAndFinish(ign), 'PASS');
    // Its negative: SIGTRAP's SIG_IGN dropped from the image.
    assert.match(await restoreAndFinish(ign, (dir) => editImage(dir, `core-${ign.pid}.img`, (e) => {
      ((e[0]!.tc as MessageValue).sigactions as MessageValue[])[actionIndex(5)]!.sigaction = 0n;
    })), /^FAIL: signal 5 action differs: handler 0 /);
  } finally {
    cleanupDumped(ign);
  }
  // The handler's negative.
  assert.match(await restoreAndFinish(d!, (dir) => editImage(dir, `core-${d!.pid}.img`, (e) => {
    ((e[0]!.tc as MessageValue).sigactions as MessageValue[])[actionIndex(5)]!.sigaction = 0n;
  })), /^FAIL: signal 5 action differs: handler 0 /);
});
