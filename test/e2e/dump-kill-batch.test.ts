// Issue 15, SIGKILL of cryo dump inside a batch of injected calls (inject/batch-park.ts): the
// batch runner ends in rt_sigreturn onto each thread's own frame, so a task whose cryo dies while
// it runs a batch (the signal actions, a thread's state, vmsplice of its pages) runs on with its
// own state and the tree's own check passes. Without that ending (CRYO_BATCH_ENDING=off) the
// batch's breakpoint delivers SIGTRAP to a task that has no tracer any more, which kills it.
// Only where the arch has a batch runner (x86_64); elsewhere every call runs on its own, ended.
// The first and last call into each process (its call-ending area's mmap and munmap) run on code in
// the vDSO's spare tail that puts the thread's state back itself: killed there, the tree runs on too.
// An ia32 task's batches (64-bit code) end the same way, through the compat rt_sigreturn onto a
// 32-bit frame: run where the kernel runs ia32 programs (the x86_64 guest, scripts/test-arch.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { hostArch } from '../../src/arch/index.js';
import { cliDump, dumpPoints, endTree, harmAfterKill, killInCallLeavesTree, startTree, threadStates, type Tree } from '../helpers/fault-tree.js';
import { startTarget } from '../helpers/dump-target.js';
import { existsSync } from 'node:fs';
import { programsBinDir } from '../helpers/paths.js';
import { ia32Unsupported } from '../../src/arch/x86_64/ia32-probe.js';

const arch = await hostArch();
const skip = arch.syscall.batchCode === undefined ? `${arch.name} has no batch runner: a dump's calls run one by one` : false;

/** The points (from 1) where a `cryo dump` of the tree runs a batch in a task. */
function batchPoints(tree: Tree, env: Record<string, string> = {}): { n: number; what: string }[] {
  return dumpPoints(tree, env).flatMap((what, i) => (/ code run in task \d+$/.test(what) ? [{ n: i + 1, what }] : []));
}

test("SIGKILL of cryo dump inside its first three batches (the root's signal actions, its thread's, its first pages): each task runs on with its own state and the tree's check passes", { skip }, () => {
  const tree = startTree();
  let failed = true;
  try {
    const states = tree.pids.map(threadStates);
    assert.ok(batchPoints(tree).length >= 3, 'a dump of the tree runs batches');
    for (const k of [0, 1, 2]) {
      // Counted again each time: the areas a killed dump left are more VMAs to read, more points.
      const { n, what } = batchPoints(tree)[k]!;
      killInCallLeavesTree(tree, n, states, `SIGKILL inside batch ${k + 1} (point ${n}: ${what})`);
    }
    failed = false;
  } finally {
    const verdict = endTree(tree);
    if (!failed) assert.equal(verdict, 'PASS', 'every process checks its memory, thread, pipe, socket and parent');
  }
});

test('the same kill inside the first batch without the batch ending (CRYO_BATCH_ENDING=off): the breakpoint kills the task with SIGTRAP, and the checks see it (they can fail)', { skip }, () => {
  const tree = startTree();
  let verdict = '';
  try {
    const states = tree.pids.map(threadStates);
    // Counted in the same mode: without the ending a dump makes no sockets, so fewer calls come first.
    const { n } = batchPoints(tree, { CRYO_BATCH_ENDING: 'off' })[0]!;
    assert.equal(cliDump(tree, path.join(tree.t.dir, 'in-batch'), { CRYO_FAULT: `dump:${n}:kill-in-call`, CRYO_BATCH_ENDING: 'off' }), 'SIGKILL');
    assert.ok(harmAfterKill(tree, states), 'the check after a SIGKILL sees the harm');
  } finally {
    verdict = endTree(tree);
  }
  assert.match(verdict, /killed by signal 5\b/, "the root died by SIGTRAP, and its own check never printed PASS");
});

const spareSkip = arch.callThenRestore === undefined ? `${arch.name} has no code that puts a thread's state back without a frame` : false;

test("SIGKILL of cryo dump inside the first and the last call into each process (its call-ending area's mmap and munmap, on the vDSO's spare code): each task runs on with its own state and the tree's check passes", { skip: spareSkip }, () => {
  const tree = startTree();
  let failed = true;
  try {
    const states = tree.pids.map(threadStates);
    const ends = (points: string[]) => {
      const first = new Map<string, number>();
      const last = new Map<string, number>();
      points.forEach((l, i) => {
        const task = / injected into task (\d+)$/.exec(l)?.[1];
        // Not the processes a snapshot of a tree's process is made with (src/dump/snapshot.ts).
        if (task === undefined || !tree.pids.includes(Number(task))) return;
        if (!first.has(task)) first.set(task, i + 1);
        last.set(task, i + 1);
      });
      return [...first.values(), ...last.values()];
    };
    const count = ends(dumpPoints(tree)).length;
    assert.equal(count, 6, 'a first and a last call into each of the three processes');
    for (let k = 0; k < count; k++) {
      // Counted again each time: the areas a killed dump left are more VMAs to read, more points.
      const points = dumpPoints(tree);
      const n = ends(points)[k]!;
      const kill = `SIGKILL inside point ${n} (${points[n - 1]})`;
      // The last: the batch area's munmap, or the waitid that reaps the clone a snapshot was made with.
      assert.match(points[n - 1]!, k < 3 ? /^dump \d+ mmap\(\)/ : /^dump \d+ (munmap|waitid)\(\)/, kill);
      killInCallLeavesTree(tree, n, states, kill);
    }
    failed = false;
  } finally {
    const verdict = endTree(tree);
    if (!failed) assert.equal(verdict, 'PASS', 'every process checks its memory, thread, pipe, socket and parent');
  }
});

test("SIGKILL of cryo dump while several threads' batches run at the same time (each parked on a descriptor of its own): every thread runs on with its own state and rt-threads' own check passes", { skip }, () => {
  const t = startTarget('rt-threads');
  const tree: Tree = { t, pids: [t.pid], maps: [], fds: [] };
  let failed = true;
  try {
    const states = tree.pids.map(threadStates);
    const threadBatches = () => batchPoints(tree).filter(({ what }) => !what.endsWith(` task ${t.pid}`));
    const count = threadBatches().length;
    assert.equal(count, 5, "a batch in each of rt-threads' five threads");
    // Killed as the second thread starts (the first one's batch runs), as the last one starts, and just after (all parked).
    for (const [k, shift] of [[1, 0], [count - 1, 0], [count - 1, 1]] as const) {
      // Counted again each time: the areas a killed dump left are more VMAs to read, more points.
      const { n, what } = threadBatches()[k]!;
      killInCallLeavesTree(tree, n + shift, states, `SIGKILL inside point ${n + shift} (thread batch ${k + 1}: ${what})`);
    }
    failed = false;
  } finally {
    const verdict = endTree(tree);
    if (!failed) assert.equal(verdict, 'PASS', 'rt-threads checks every thread');
  }
});

const ia32Skip = skip || (existsSync(path.join(programsBinDir, 'rt-threads.ia32')) ? false : 'no ia32 test programs (built on x86_64 with gcc-i686-linux-gnu)') || (ia32Unsupported() ?? false);

test("SIGKILL of cryo dump inside an ia32 task's batches (its signal actions with their int $0x80 calls; its five threads', all parked at once) and inside a single call (the scratch page's mmap): every thread runs on in 32-bit mode with its own state and rt-threads' own check passes", { skip: ia32Skip }, () => {
  const t = startTarget('rt-threads.ia32');
  const tree: Tree = { t, pids: [t.pid], maps: [], fds: [] };
  let failed = true;
  try {
    const states = tree.pids.map(threadStates);
    const threadBatches = (all: { n: number; what: string }[]) => all.filter(({ what }) => !what.endsWith(` task ${t.pid}`));
    // Counted again before each kill: the areas a killed dump left are more VMAs to read, more points.
    const first = batchPoints(tree);
    assert.equal(threadBatches(first).length, 5, "a batch in each of rt-threads' five threads");
    killInCallLeavesTree(tree, first[0]!.n, states, `SIGKILL inside point ${first[0]!.n} (${first[0]!.what})`);
    const last = threadBatches(batchPoints(tree))[4]!;
    killInCallLeavesTree(tree, last.n + 1, states, `SIGKILL inside point ${last.n + 1} (just after ${last.what}: all five parked)`);
    // The first call into the process (the ending's own mmap) has no ending of its own here (no
    // callThenRestore for ia32); the second, the scratch page's, runs on it.
    const points = dumpPoints(tree);
    const calls = points.flatMap((l, i) => (l.endsWith(` injected into task ${t.pid}`) ? [i + 1] : []));
    const n = calls[1]!;
    assert.match(points[n - 1]!, /^dump \d+ mmap\(\) injected/, "the second call into the process maps the scratch page");
    killInCallLeavesTree(tree, n, states, `SIGKILL inside point ${n} (${points[n - 1]})`);
    failed = false;
  } finally {
    const verdict = endTree(tree);
    if (!failed) assert.equal(verdict, 'PASS', 'rt-threads checks every thread');
  }
});

test("the same kills in an ia32 task without the endings (CRYO_BATCH_ENDING=off: the breakpoint kills it with SIGTRAP; CRYO_CALL_ENDING=off: the scratch page's mmap leaves it with cryo's registers), and the checks see it (they can fail)", { skip: ia32Skip }, () => {
  const killed = (pick: (points: string[]) => number, env: NodeJS.ProcessEnv): string => {
    const t = startTarget('rt-threads.ia32');
    const tree: Tree = { t, pids: [t.pid], maps: [], fds: [] };
    let verdict = '';
    try {
      const states = tree.pids.map(threadStates);
      const n = pick(dumpPoints(tree));
      assert.equal(cliDump(tree, path.join(t.dir, 'in-call'), { CRYO_FAULT: `dump:${n}:kill-in-call`, ...env }), 'SIGKILL');
      assert.ok(harmAfterKill(tree, states), `the check after a SIGKILL inside point ${n} sees the harm`);
    } finally {
      verdict = endTree(tree);
    }
    return verdict;
  };
  const firstBatch = (points: string[]) => points.findIndex((l) => / code run in task \d+$/.test(l)) + 1;
  assert.match(killed(firstBatch, { CRYO_BATCH_ENDING: 'off' }), /killed by signal 5\b/, 'it died by SIGTRAP, and its own check never printed PASS');
  const scratchMmap = (points: string[]) => points.flatMap((l, i) => (/ injected into task \d+$/.test(l) ? [i + 1] : []))[1]!;
  assert.notEqual(killed(scratchMmap, { CRYO_CALL_ENDING: 'off' }), 'PASS', 'its own check did not pass');
});
