// Task state comes back exactly as it was: each test/programs/rt-task-*.c sets up one kind of
// state, is dumped (and killed), restored, and checks it on SIGTERM (PASS). Each also restores
// from an edited image once, to prove its check notices the difference.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { HOST_LITTLE_ENDIAN, writeU32 } from '../../src/sys/index.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

async function dumped(name: string, args: string[] = []): Promise<Dumped> {
  const d = await startAndDump(name, args);
  all.push(d);
  return d;
}

/** Edits the task's core entry: tc (task core) and thread_core. */
const editCore = (d: Dumped, edit: (tc: MessageValue, th: MessageValue) => void) => (dir: string) =>
  editImage(dir, `core-${d.pid}.img`, ([core]) => edit(core!.tc as MessageValue, core!.thread_core as MessageValue));

test('resource limits: soft and hard, several', async () => {
  const d = await dumped('rt-task-rlimit');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const out = await restoreAndFinish(d, editCore(d, (tc) => {
    ((tc.rlimits as MessageValue).rlimits as MessageValue[])[7]!.cur = 99n; // RLIMIT_NOFILE
  }));
  assert.match(out, /^FAIL: RLIMIT_NOFILE soft 99 hard 200, want 100 200/);
});

test('interval timers and POSIX timers: remaining time, interval, signal, value, overrun count', async () => {
  const d = await dumped('rt-task-timers');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const out = await restoreAndFinish(d, editCore(d, (tc) => {
    ((tc.timers as MessageValue).prof as MessageValue).isec = 11n;
  }));
  assert.match(out, /^FAIL: ITIMER_PROF interval 11\.000000, want 10/);
  const sival = await restoreAndFinish(d, editCore(d, (tc) => {
    // The program sets sival_int: the first four bytes of the union, the high half of sival_ptr on big-endian.
    const shift = HOST_LITTLE_ENDIAN ? 0n : 32n;
    const posix = (tc.timers as MessageValue).posix as MessageValue[];
    const a = posix.find((t) => ((BigInt(t.sival_ptr as bigint) >> shift) & 0xffffffffn) === 0x1234n)!;
    a.sival_ptr = BigInt(a.sival_ptr as bigint) & ~(0xffffffffn << shift) | (0x4321n << shift);
  }));
  assert.match(sival, /^FAIL: timer A delivered sival 0x4321, want 0x1234/);
  const overrun = await restoreAndFinish(d, editCore(d, (tc) => {
    const posix = (tc.timers as MessageValue).posix as MessageValue[];
    const t = posix.find((x) => Number(x.overrun) === 7)!;
    t.overrun = 9;
  }));
  assert.match(overrun, /^FAIL: timer D overrun 9, want 7/);
});

test('POSIX timers that signal one thread (SIGEV_THREAD_ID, glibc SIGEV_THREAD): made once the threads exist', async () => {
  const d = await dumped('rt-task-timer-thread');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const out = await restoreAndFinish(d, editCore(d, (tc) => {
    const posix = (tc.timers as MessageValue).posix as MessageValue[];
    const e = posix.find((t) => Number(t.notify_thread_id) !== 0 && Number(t.si_signo) !== 32)!;
    e.notify_thread_id = d.pid; // the main thread, which never takes the signal
  }));
  assert.match(out, /^FAIL: thread T took no signal of timer E after restore/);
});

test('personality, thread name, no_new_privs, dumpable 0, the same PID, a membarrier registration', async () => {
  const d = await dumped('rt-task-prctl');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const out = await restoreAndFinish(d, editCore(d, (tc, th) => { tc.comm = 'renamed'; th.comm = 'renamed'; }));
  assert.match(out, /^FAIL: thread name 'renamed', want 'rt-prctl-name'/);
  // A kernel before 6.3 cannot tell a registration (MEMBARRIER_CMD_GET_REGISTRATIONS): none dumped, none checked.
  const core = decodeImageFile(path.join(d.images, `core-${d.pid}.img`)).entries[0]!.value.tc as MessageValue;
  if (core.membarrier_registration_mask !== undefined) {
    const barriers = await restoreAndFinish(d, editCore(d, (tc) => { delete tc.membarrier_registration_mask; }));
    assert.match(barriers, /^FAIL: membarrier\(PRIVATE_EXPEDITED\): Operation not permitted, want it registered/);
  }
});

for (const policy of ['batch', 'idle']) {
  test(`scheduling: SCHED_${policy.toUpperCase()} and nice 7`, async () => {
    const d = await dumped('rt-task-sched', [policy]);
    assert.equal(await restoreAndFinish(d), 'PASS');
    const out = await restoreAndFinish(d, editCore(d, (_tc, th) => { th.sched_nice = 3; }));
    assert.match(out, /^FAIL: nice 3, want 7/);
  });
}

test('credentials: another uid/gid, supplementary groups, fewer capabilities, bounding set', async () => {
  const d = await dumped('rt-task-creds');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const out = await restoreAndFinish(d, editCore(d, (_tc, th) => {
    const c = th.creds as MessageValue;
    c.uid = 1001; c.euid = 1001; c.suid = 1001; c.fsuid = 1001;
  }));
  assert.match(out, /^FAIL: uid 1001\/1001\/1001 fsuid 1001, want 1000/);
});

test('seccomp: a filter that makes getppid() fail with ENOMSG, restored last', async () => {
  const d = await dumped('rt-task-seccomp');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const out = await restoreAndFinish(d, (dir) => editImage(dir, 'seccomp.img', ([s]) => {
    const f = (s!.seccomp_filters as MessageValue[])[0]!;
    const prog = Buffer.from(f.filter as Buffer);
    writeU32(prog, 0x50000 | 43, 2 * 8 + 4); // the RET ERRNO instruction's k (host order): EIDRM
    f.filter = prog;
  }));
  assert.match(out, /^FAIL: getppid\(\) gave -1 errno 43 .*want -1 errno 42/);
});

test('oom_score_adj and the audit login uid (written from /proc, not by a system call)', async () => {
  const d = await dumped('rt-task-proc');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const out = await restoreAndFinish(d, editCore(d, (tc) => { tc.oom_score_adj = 300; }));
  assert.match(out, /^FAIL: oom_score_adj 300, want 400/);
  const login = await restoreAndFinish(d, editCore(d, (tc) => { tc.loginuid = 1000; }));
  assert.match(login, /^FAIL: loginuid 1000, want 4321/);
  // Lower than cryo's own needs CAP_SYS_RESOURCE: refused before anything starts where cryo lacks it.
  const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
  const lower = restoreAndFinish(d, editCore(d, (tc) => { tc.oom_score_adj = -100; }));
  if ((capEff >> 24n) & 1n) assert.match(await lower, /^FAIL: oom_score_adj -100, want 400/);
  else await assert.rejects(lower, /had oom_score_adj -100, lower than cryo's own \d+: lowering it needs CAP_SYS_RESOURCE/);
});
