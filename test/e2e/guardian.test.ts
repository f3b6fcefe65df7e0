// SIGKILL of cryo cannot be caught: what a killed dump or restore made outside itself is undone by
// its guard (src/sys/guardian.ts, native/guard.c), or dies with it (helpers held stopped). Each
// test kills the real `cryo` command (CRYO_FAULT=OP:WHERE:kill) at several moments and looks for
// what it could leave: a process of the tree, a zombie or stopped child, a temporary mount or
// directory, a cgroup it made, a recreated deleted file, a System V object, a temporary image. The
// tree comes back whole afterwards. With CRYO_GUARD=off the same checks find the leftovers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sleepSync, waitpid, WNOHANG, __WALL } from '../../src/sys/index.js';
import { cryoCli } from '../helpers/cryo-cli.js';
import { becomeSubreaper, childStates, waitGone } from '../helpers/restore-env.js';
import { startTarget, type Target } from '../helpers/dump-target.js';
import { cleanupDumped, imagesCopy, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { dumpedOutOfItsCgroups, removeCgroups, withHierarchy } from '../helpers/cgroup-hierarchy.js';
import { ipcRemove, listIpc, type IpcKind } from '../../src/shared/sysv-ipc.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const STEPS = ['stub', 'memory', 'files', 'task-state', 'resume'];

/** The PIDs of the dumped tree (its core images). */
function treePids(d: Dumped): number[] {
  return readdirSync(d.images).filter((n) => /^core-\d+\.img$/.test(n)).map((n) => Number(/\d+/.exec(n)![0]));
}

/** Runs `cryo restore -d` of a copy of the dump with `env`; returns the signal that ended it and the copy. */
function cliRestore(d: Dumped, env: NodeJS.ProcessEnv): { status: number | null; signal: string | null; err: string } {
  const dir = imagesCopy(d);
  try {
    const r = spawnSync(process.execPath, [cryoCli, 'restore', '-D', dir, '-d'], { env: { ...process.env, ...env } });
    return { status: r.status, signal: r.signal, err: r.stderr.toString() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Waits until every child of this process (a subreaper: the killed cryo's guard and orphans come
 * here) has ended, and collects them; then says what of the tree is left (`besides`: the test's own children).
 */
/** The points of a restore of `d` up to the step after the files (made to fail there, leaving nothing). */
function pointsUpToFiles(d: Dumped, pids: number[]): string[] {
  const trace = path.join(d.target.dir, 'restore-points');
  const whole = cliRestore(d, { CRYO_FAULT_TRACE: trace, CRYO_FAULT: 'restore:task-state' });
  assert.match(whole.err, /fault injected at restore step 'task-state'/);
  assert.equal(settled(pids), undefined);
  const points = readFileSync(trace, 'utf8').trim().split('\n');
  rmSync(trace);
  return points;
}

function settled(pids: number[], besides: number[] = []): string | undefined {
  const children = () => [...childStates()].filter(([p]) => !besides.includes(p));
  for (let i = 0; i < 1000; i++) {
    const live = children().filter(([p, s]) => {
      if (s === 'Z') { try { waitpid(p, WNOHANG | __WALL); } catch { /* not ours */ } }
      return s !== 'Z' && s !== 'T' && s !== 't';
    });
    if (live.length === 0) break;
    sleepSync(20);
  }
  for (const pid of pids) if (!waitGone(pid)) return `process ${pid} of the tree is still there`;
  for (const [child, state] of children()) return `a child ${child} is left in state ${state}`;
  return undefined;
}

/** Mount points under `dir` and entries of it. */
function tempLeft(dir: string): string | undefined {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(dir + '/'));
  if (mounts.length > 0) return `a mount is left: ${mounts[0]!.split(' ')[4]}`;
  const names = readdirSync(dir);
  return names.length > 0 ? `left in the temporary directory: ${names.join(', ')}` : undefined;
}

/** Unmounts and removes what is mounted in `dir`. */
function unmountAll(dir: string): void {
  for (const m of readdirSync(dir)) {
    try { execFileSync('umount', ['-l', path.join(dir, m)], { stdio: 'ignore' }); } catch { /* not a mount */ }
    rmSync(path.join(dir, m), { recursive: true, force: true });
  }
}

test('SIGKILL of cryo restore at each step, and between two processes\' resumes, leaves no process, mount or cgroup; without the guard they stay', async (t) => {
  const got = await dumpedOutOfItsCgroups(t);
  if (!got) return;
  const { d, h } = got;
  all.push(d);
  const pids = treePids(d);
  assert.equal(pids.length, 2, 'a process and its child');
  // The restore's temporary mount goes under TMPDIR: a private one, so that only this test's count.
  const tmp = mkdtempSync(path.join(tmpdir(), 'cryo-guard-test-'));
  const cgroupsLeft = () => withHierarchy(h, (dir) => ['p', 'p/kid', 'p/spare'].filter((c) => existsSync(path.join(dir, c))));
  let done = false;
  try {
    // An uninterrupted restore, traced: the child resumes first; its resume ends before the root's first point.
    const trace = path.join(d.target.dir, 'points');
    truncateSync(d.target.outFile, Buffer.byteLength(d.readyLine) + 1);
    assert.equal(cliRestore(d, { CRYO_FAULT_TRACE: trace, TMPDIR: tmp }).status, 0);
    assert.equal(d.target.finish(), 'PASS');
    assert.equal(settled(pids), undefined);
    removeCgroups(h);
    const lines = readFileSync(trace, 'utf8').trim().split('\n');
    const resumes = lines.slice(lines.findIndex((l) => / step resume$/.test(l)) + 1);
    // Each process is let go in turn, children first: killed at the root's point, the child runs already.
    const task = (l: string) => / let go of task (\d+)$/.exec(l)?.[1];
    const lets = resumes.filter((l) => task(l) !== undefined);
    const between = lets[1];
    assert.ok(between && task(lets[0]!) !== String(d.pid) && task(between) === String(d.pid), `the child is let go first, then the root: ${resumes.join('; ')}`);
    const mid = Number(between.split(' ')[1]);
    for (const where of [...STEPS, mid]) {
      const r = cliRestore(d, { CRYO_FAULT: `restore:${where}:kill`, TMPDIR: tmp });
      assert.equal(r.signal, 'SIGKILL', `killed at ${where}: ${r.err}`);
      assert.equal(settled(pids), undefined, `killed at ${where}`);
      assert.equal(tempLeft(tmp), undefined, `killed at ${where}`);
      assert.deepEqual(cgroupsLeft(), [], `killed at ${where}: cgroups restore made`);
    }
    // The checks can fail: without the guard the child already resumed runs on, and the mount and cgroups stay.
    const r = cliRestore(d, { CRYO_FAULT: `restore:${mid}:kill`, TMPDIR: tmp, CRYO_GUARD: 'off' });
    assert.equal(r.signal, 'SIGKILL', r.err);
    const child = pids.find((p) => p !== d.pid)!;
    assert.match(settled([d.pid]) ?? '', new RegExp(`^a child ${child} is left in state [RSD]$`), 'the traced root dies with its tracer (PTRACE_O_EXITKILL) even so; its child runs on');
    assert.match(tempLeft(tmp) ?? '', /^a mount is left: .*\/cryo-cgroup-/);
    assert.deepEqual(cgroupsLeft(), ['p', 'p/kid', 'p/spare']);
    process.kill(child, 'SIGKILL');
    assert.equal(settled(pids), undefined);
    unmountAll(tmp);
    removeCgroups(h);
    // Nothing left in the way: the tree comes back whole.
    assert.equal(await restoreAndFinish(d), 'PASS');
    done = true;
  } finally {
    // A failed check may leave the tree running (its PIDs are not to be killed once it passed: they may be reused).
    if (!done) for (const p of pids) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    unmountAll(tmp);
    removeCgroups(h);
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('SIGKILL of cryo restore between memory and files leaves no recreated deleted file; without the guard, they stay', async () => {
  const d = await startAndDump('rt-files-ghost');
  all.push(d);
  const pids = treePids(d);
  const before = readdirSync(d.target.dir).sort();
  const ghosts = readdirSync(d.images).filter((n) => n.startsWith('ghost-file-')).length;
  assert.ok(ghosts >= 2, 'two deleted files in the dump');
  for (const step of ['memory', 'files']) {
    const r = cliRestore(d, { CRYO_FAULT: `restore:${step}:kill` });
    assert.equal(r.signal, 'SIGKILL', `killed at ${step}: ${r.err}`);
    assert.equal(settled(pids), undefined, `killed at ${step}`);
    assert.deepEqual(readdirSync(d.target.dir).sort(), before, `killed at ${step}: the program's directory`);
  }
  const r = cliRestore(d, { CRYO_FAULT: 'restore:memory:kill', CRYO_GUARD: 'off' });
  assert.equal(r.signal, 'SIGKILL', r.err);
  assert.equal(settled(pids), undefined);
  const extra = readdirSync(d.target.dir).filter((n) => !before.includes(n));
  assert.equal(extra.length, ghosts, `without the guard the recreated files stay: ${extra.join(', ')}`);
  for (const n of extra) rmSync(path.join(d.target.dir, n));
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('a deleted set-id file is made again without its set-id bits while restore runs (killed there, the guard off, it stays: mode 0604)', async () => {
  const d = await startAndDump('rt-files-setid');
  all.push(d);
  const file = path.join(d.target.dir, 'setid');
  try {
    const r = cliRestore(d, { CRYO_FAULT: 'restore:memory:kill', CRYO_GUARD: 'off' });
    assert.equal(r.signal, 'SIGKILL', r.err);
    assert.equal(settled(treePids(d)), undefined);
    const st = statSync(file);
    assert.equal(`0${(st.mode & 0o7777).toString(8)} ${st.uid}`, '0604 0', 'no set-id bits at the path');
  } finally {
    rmSync(file, { force: true });
  }
  // Restored in full, the task has them (its check wants 06604).
  assert.equal(await restoreAndFinish(d), 'PASS');
});

/** Each thread of `pid`: stopped or running, and its tracer. */
function threadsOf(pid: number): string {
  return readdirSync(`/proc/${pid}/task`).sort().map((tid) => {
    const st = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    return `${tid} ${/^State:\s+[tT]/m.test(st) ? 'stopped' : 'runs'} tracer ${/^TracerPid:\s+(\d+)/m.exec(st)![1]}`;
  }).join(', ');
}

/** Runs `cryo dump --leave-running` of the target into `dir` with `env`; returns the signal that ended it. */
function cliDump(t: Target, dir: string, env: NodeJS.ProcessEnv): string | null {
  return spawnSync(process.execPath, [cryoCli, 'dump', '-t', String(t.pid), '-D', dir, '--leave-running'], { env: { ...process.env, ...env } }).signal;
}

test('SIGKILL of cryo dump at each step and while it writes its manifest leaves the task running, no child and no temporary image; its check passes', () => {
  becomeSubreaper();
  const t = startTarget('fault-tree');
  try {
    const before = threadsOf(t.pid);
    const trace = path.join(t.dir, 'points');
    assert.equal(cliDump(t, path.join(t.dir, 'traced'), { CRYO_FAULT_TRACE: trace }), null);
    // Once the manifest is written, the inventory waits under a temporary name.
    const lines = readFileSync(trace, 'utf8').trim().split('\n');
    const manifest = lines.find((l) => /cryo-manifest\.img\.part$/.test(l));
    assert.ok(manifest && lines.some((l) => /inventory\.img\.part$/.test(l)), lines.slice(-3).join('; '));
    const manifestPoint = Number(manifest.split(' ')[1]);
    const parts = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.part'));
    for (const where of ['seize', 'inject', 'memory', 'files', 'write', manifestPoint]) {
      const dir = path.join(t.dir, `img-${where}`);
      assert.equal(cliDump(t, dir, { CRYO_FAULT: `dump:${where}:kill` }), 'SIGKILL', `killed at ${where}`);
      let now = '';
      for (let i = 0; i < 500 && (now = threadsOf(t.pid)) !== before; i++) sleepSync(20);
      assert.equal(now, before, `killed at ${where}: every thread runs, untraced`);
      assert.equal(settled([], [t.pid]), undefined, `killed at ${where}: no helper of cryo's`);
      for (let i = 0; i < 500 && parts(dir).length > 0; i++) sleepSync(20);
      assert.deepEqual(parts(dir), [], `killed at ${where}: temporary images`);
      assert.ok(!existsSync(path.join(dir, 'inventory.img')), `killed at ${where}: no inventory, so restore takes no set`);
    }
    // The check can fail: without the guard the inventory stays under its temporary name. Its point
    // counted again: the areas the killed dumps left in the tree are more VMAs to read, more points.
    rmSync(trace, { force: true });
    assert.equal(cliDump(t, path.join(t.dir, 'traced-again'), { CRYO_FAULT_TRACE: trace }), null);
    const again = readFileSync(trace, 'utf8').trim().split('\n').find((l) => /cryo-manifest\.img\.part$/.test(l))!;
    const dir = path.join(t.dir, 'img-unguarded');
    assert.equal(cliDump(t, dir, { CRYO_FAULT: `dump:${Number(again.split(' ')[1])}:kill`, CRYO_GUARD: 'off' }), 'SIGKILL');
    assert.deepEqual(parts(dir), ['inventory.img.part']);
  } finally {
    assert.equal(t.finish(), 'PASS', 'every process checks its memory, thread, pipe, socket and parent');
    t.cleanup();
  }
});

test('SIGKILL of cryo restore while stand-ins hold dead processes\' PIDs leaves none of them stopped; without the guard they stay', async () => {
  const d = await startAndDump('rt-proc-dead');
  all.push(d);
  const pids = treePids(d);
  const trace = path.join(d.target.dir, 'points');
  truncateSync(d.target.outFile, Buffer.byteLength(d.readyLine) + 1);
  assert.equal(cliRestore(d, { CRYO_FAULT_TRACE: trace }).status, 0);
  assert.equal(d.target.finish(), 'PASS');
  assert.equal(settled(pids), undefined);
  // The stand-ins are made once the files step begins, and live while the tree opens its files.
  const lines = readFileSync(trace, 'utf8').trim().split('\n');
  const during = Number(lines[lines.findIndex((l) => / step files$/.test(l)) + 1]!.split(' ')[1]);
  const r = cliRestore(d, { CRYO_FAULT: `restore:${during}:kill` });
  assert.equal(r.signal, 'SIGKILL', r.err);
  assert.equal(settled(pids), undefined);
  const off = cliRestore(d, { CRYO_FAULT: `restore:${during}:kill`, CRYO_GUARD: 'off' });
  assert.equal(off.signal, 'SIGKILL', off.err);
  const left = [...childStates()].filter(([, s]) => s === 'T').map(([p]) => p);
  assert.equal(left.length, 2, `without PR_SET_PDEATHSIG the two stand-ins stay stopped: ${settled(pids)}`);
  for (const p of left) process.kill(p, 'SIGKILL');
  assert.equal(settled(pids), undefined);
});

test('SIGKILL of cryo restore after it made the System V objects leaves none of them; without the guard they stay', async () => {
  const d = await startAndDump('rt-sysv-ipc');
  all.push(d);
  // 'gone' is the segment marked for removal while attached: restore makes it again too.
  const ids: [IpcKind, number][] = [['shm', Number(d.target.ready.shm)], ['shm', Number(d.target.ready.priv)], ['shm', Number(d.target.ready.gone)],
    ['sem', Number(d.target.ready.sem)], ['msg', Number(d.target.ready.msg)]];
  const remove = () => { for (const [k, id] of ids) try { ipcRemove(k, id); } catch { /* gone */ } };
  const present = () => ids.filter(([k, id]) => listIpc(k).some((o) => o.id === id)).map(([k, id]) => `${k} ${id}`);
  try {
    // The killed task's objects outlive it: the restore makes them again.
    remove();
    const pids = treePids(d);
    for (const step of ['memory', 'files', 'resume']) {
      const r = cliRestore(d, { CRYO_FAULT: `restore:${step}:kill` });
      assert.equal(r.signal, 'SIGKILL', `killed at ${step}: ${r.err}`);
      assert.equal(settled(pids), undefined, `killed at ${step}`);
      assert.deepEqual(present(), [], `killed at ${step}`);
    }
    const r = cliRestore(d, { CRYO_FAULT: 'restore:memory:kill', CRYO_GUARD: 'off' });
    assert.equal(r.signal, 'SIGKILL', r.err);
    assert.equal(settled(pids), undefined);
    // (Segments go with cryo's attachment where kernel.shm_rmid_forced is 1.)
    assert.deepEqual(present().filter((o) => !o.startsWith('shm')), [`sem ${d.target.ready.sem}`, `msg ${d.target.ready.msg}`], 'without the guard the objects restore made stay');
    remove();
    assert.equal(await restoreAndFinish(d), 'PASS');
  } finally {
    remove();
  }
});

test("SIGKILL of cryo restore while a unix socket's old file is parked for its bind puts it back; without the guard the name is lost", async () => {
  // Restore moves an old socket file at a name aside (.cryo-parked-PID-NAME) while it binds there,
  // and puts it back if the bind fails; killed meanwhile, its guard does: the bound file goes and
  // the parked one comes back, the same inode. Past a name's bind the new file stands in for the
  // old one (the same mode and owner), as after a restore that failed there (rt-unix.test.ts).
  const d = await startAndDump('rt-unix');
  all.push(d);
  const pids = treePids(d);
  const names = () => readdirSync(d.target.dir).flatMap((f) => {
    const st = statSync(path.join(d.target.dir, f));
    return st.isSocket() || f.startsWith('.cryo-') ? [`${f} ${st.mode.toString(8)} ${st.uid}/${st.gid}`] : [];
  }).sort().join(', ');
  const inodes = () => readdirSync(d.target.dir).filter((f) => f.endsWith('.sock')).map((f) => `${f} ${statSync(path.join(d.target.dir, f)).ino}`).sort().join(', ');
  const points = pointsUpToFiles(d, pids);
  const before = names();
  const ino = inodes();
  assert.match(before, /listen\.sock 140711 /, 'the dumped listener left its socket file, mode 0711');
  const binds = points.flatMap((l, i) => (/ bind\(\) injected/.test(l) ? [i + 1] : []));
  assert.ok(binds.length >= 3, `restore binds the names: ${binds.join(', ')}`);
  const first = binds[0]!;
  for (const n of [...binds, first + 1, first + 2]) {
    const r = cliRestore(d, { CRYO_FAULT: `restore:${n}:kill` });
    assert.equal(r.signal, 'SIGKILL', `killed at point ${n} (${points[n - 1]}): ${r.err}`);
    assert.equal(settled(pids), undefined, `killed at point ${n}`);
    assert.equal(names(), before, `the socket files after a kill at point ${n} (${points[n - 1]})`);
    // At the first bind no name was bound before: each old file came back as it was.
    if (n === first) assert.equal(inodes(), ino, 'the parked files came back, the same inodes');
  }
  const off = cliRestore(d, { CRYO_FAULT: `restore:${first}:kill`, CRYO_GUARD: 'off' });
  assert.equal(off.signal, 'SIGKILL', off.err);
  assert.equal(settled(pids), undefined);
  const lost = names();
  assert.match(lost, /\.cryo-parked-\d+-/, `without the guard the old file stays parked: ${lost}`);
  for (const f of readdirSync(d.target.dir).filter((x) => x.startsWith('.cryo-parked-'))) {
    renameSync(path.join(d.target.dir, f), path.join(d.target.dir, f.replace(/^\.cryo-parked-\d+-/, '')));
  }
  assert.equal(names(), before);
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test("SIGKILL of cryo restore while a deleted name's bound socket file waits for its connectors removes it; without the guard it stays", async () => {
  // rt-files-fifo-ghost's fd 9 was bound to d/gone.sock, the name deleted, and fd 10 connected to
  // it: restore binds the name, moves the file aside (.cryo-bound-PID-INO) until fd 10 connected,
  // then removes it. Killed in between, the guard removes it.
  const d = await startAndDump('rt-files-fifo-ghost');
  all.push(d);
  const pids = treePids(d);
  const dir = path.join(d.target.dir, 'd');
  const points = pointsUpToFiles(d, pids);
  const before = readdirSync(dir).join(', ');
  assert.equal(before, 'sock');
  const top = readdirSync(d.target.dir);
  const binds = points.flatMap((l, i) => (/ bind\(\) injected/.test(l) ? [i + 1] : []));
  const connects = points.flatMap((l, i) => (/ connect\(\) injected/.test(l) ? [i + 1] : []));
  assert.equal(binds.length, 2, `fd 6 and fd 9 bind their names: ${binds.join(', ')}`);
  // From fd 9's bind to the last connect, every point (the name is moved aside right after the bind).
  const window = Array.from({ length: connects.at(-1)! - binds[1]! }, (_, i) => binds[1]! + 1 + i);
  assert.ok(window.length >= 2, `points between fd 9's bind and the connects: ${window.join(', ')}`);
  for (const n of window) {
    const r = cliRestore(d, { CRYO_FAULT: `restore:${n}:kill` });
    assert.equal(r.signal, 'SIGKILL', `killed at point ${n} (${points[n - 1]}): ${r.err}`);
    assert.equal(settled(pids), undefined, `killed at point ${n}`);
    assert.equal(readdirSync(dir).join(', '), before, `d/ after a kill at point ${n} (${points[n - 1]})`);
  }
  const off = cliRestore(d, { CRYO_FAULT: `restore:${window[0]}:kill`, CRYO_GUARD: 'off' });
  assert.equal(off.signal, 'SIGKILL', off.err);
  assert.equal(settled(pids), undefined);
  const lost = readdirSync(dir);
  assert.match(lost.join(', '), /\.cryo-bound-\d+-\d+/, 'without the guard the bound file stays');
  for (const f of lost.filter((x) => x.startsWith('.cryo-bound-'))) rmSync(path.join(dir, f));
  // (And the deleted FIFO recreated for fd 4 and 5, left too.)
  for (const f of readdirSync(d.target.dir).filter((x) => !top.includes(x))) rmSync(path.join(d.target.dir, f));
  assert.equal(await restoreAndFinish(d), 'PASS');
});
