// Issue 15, "faults at every step", for real programs of the test suite (test/helpers/real-targets.ts):
// a dump of redis-server (four threads) made to fail at each point while its threads are seized,
// and at points spread over the rest of the dump, and a dump of python3 running threads and queues
// (test/programs/real/threads-queue.py) made to fail at points spread over all of them, leave the
// program as it was (the same mappings and descriptors, no thread stopped or traced) and answering
// as it should, its counters moving on. scripts/fault-sweep.mjs --real NAME walks every point.
// CI samples (seeded: CRYO_FAULT_SEED, default 15; the seed is in each failure message).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import { dump } from '../../src/dump/index.js';
import { kill, ptrace, waitForStop } from '../../src/sys/index.js';
import { dumpPointsOf, faultedDump, newTally, processState, realSubject, spread, stateDiff, sweepPoint } from '../helpers/fault-sweep.js';
import { REAL_TARGETS, startRealTarget } from '../helpers/real-targets.js';
import { startTarget } from '../helpers/dump-target.js';
import { toolSkip } from '../helpers/required-tool.js';

const SEED = Number(process.env.CRYO_FAULT_SEED ?? 15);
const SIG = constants.signals;
const skipRedis = toolSkip('redis-server', REAL_TARGETS.redis!.missing() === undefined, 'Debian package redis-server');
const skipPython = toolSkip('/usr/bin/python3', REAL_TARGETS.python!.missing() === undefined, 'Debian package python3');

test("the checks of a real program see a thread left seized and stopped, and a program that no longer answers (they can fail)", { skip: skipRedis, timeout: 60_000 }, async () => {
  const r = await startRealTarget('redis');
  try {
    const before = processState(r.prog.pid);
    // What a dump that failed while seizing once left: a thread seized, interrupted, never let go.
    const tid = r.prog.threads().find((t) => t !== r.prog.pid)!;
    ptrace.seize(tid, 0);
    ptrace.interrupt(tid);
    waitForStop(tid);
    try {
      assert.match(String(stateDiff(before, processState(r.prog.pid))), new RegExp(`\\+thread ${tid} stopped tracer ${process.pid}`));
    } finally {
      ptrace.detach(tid);
    }
    assert.equal(stateDiff(before, processState(r.prog.pid)), undefined, 'as it was once let go');
    kill(r.prog.pid, SIG.SIGSTOP);
    try {
      await assert.rejects(r.check(), /no answer from 127\.0\.0\.1/);
    } finally {
      kill(r.prog.pid, SIG.SIGCONT);
    }
    await r.check();
  } finally {
    r.cleanup();
  }
});

test(`redis-server: a dump failed at each point while its threads are seized, and at points spread over the rest (seed ${SEED}), leaves it as it was and answering`, { skip: skipRedis, timeout: 60_000 }, async () => {
  const r = await startRealTarget('redis');
  try {
    const s = realSubject(r);
    assert.ok(s.pids.length === 1 && r.prog.threads().length >= 4, `redis runs its background threads (${r.prog.threads().length})`);
    const points = await dumpPointsOf(s);
    const seized = points.findIndex((l) => / step task$/.test(l)) + 1;
    assert.ok(seized > r.prog.threads().length, 'seizing reads each thread');
    const tally = newTally();
    for (const n of [...Array.from({ length: seized }, (_, i) => i + 1), ...spread(points.length, 12, SEED).filter((n) => n > seized)]) {
      // redis at rest changes nothing of its own: every change is harm (no retry).
      assert.equal(await faultedDump(s, n, tally), undefined, `point ${n} of ${points.length} (${points[n - 1]}; seed ${SEED})`);
    }
    assert.equal(tally.busy.size + tally.beyond.size, 0, 'every dump failed at its point');
  } finally {
    r.cleanup();
  }
});

test(`python3 with threads and queues: a dump failed at points spread over all of them (seed ${SEED}) leaves it as it was, its queues losing nothing`, { skip: skipPython, timeout: 60_000 }, async () => {
  const r = await startRealTarget('python');
  try {
    const s = realSubject(r);
    const points = await dumpPointsOf(s);
    const tally = newTally();
    for (const n of spread(points.length, 16, SEED)) {
      assert.equal(await sweepPoint(s, n, tally), undefined, `point ${n} of ${points.length} (${points[n - 1]}; seed ${SEED})`);
    }
    assert.ok(tally.noisy.length <= 2, `few points changed the program on their own (${tally.noisy.join(', ')})`);
  } finally {
    r.cleanup();
  }
});

test("a dump failed while it seizes, after it interrupted a thread that stops only later (in vfork), lets that thread go: not left stopped and traced", { timeout: 60_000 }, async () => {
  const t = startTarget('fault-seize');
  try {
    const [vforker, sleeper] = [Number(t.ready.vforker), Number(t.ready.sleeper)];
    const s = { root: t.pid, dir: t.dir, pids: [t.pid], real: false, pidsNow: () => [t.pid], check: async () => {}, settle: async () => {} };
    // The points up to the step after seizing (a dump failed there: its vfork children come and go, a whole dump would take them too).
    const trace = path.join(t.dir, 'points');
    process.env.CRYO_FAULT_TRACE = trace;
    process.env.CRYO_FAULT = 'dump:task';
    try {
      await assert.rejects(dump({ pid: t.pid, dir: path.join(t.dir, 'count'), leaveRunning: true }), /fault injected at dump step 'task'/);
    } finally {
      delete process.env.CRYO_FAULT_TRACE;
      delete process.env.CRYO_FAULT;
    }
    const points = readFileSync(trace, 'utf8').trim().split('\n');
    // The sleeper's stat is read (is it an io_uring thread?) right after the vforker was seized and interrupted.
    const n = points.findIndex((l) => l.endsWith(`/task/${sleeper}/stat`)) + 1;
    assert.ok(n > 0 && points.slice(0, n - 1).some((l) => l.endsWith(`/task/${vforker}/stat`)), `the vforker is seized before point ${n}: ${points.join('; ')}`);
    for (let k = 0; k < 3; k++) assert.equal(await faultedDump(s, n, newTally()), undefined, `point ${n} (${points[n - 1]}), try ${k + 1}`);
  } finally {
    assert.equal(t.finish(), 'PASS', 'both threads count on');
    t.cleanup();
  }
});
