// `cryo dump` as a command: clear one-line errors, and a dump that fails or is interrupted leaves
// the task exactly as it was (no scratch page, registers and signal state intact, not traced).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { repoRoot } from '../helpers/paths.js';
import { startTarget, type Target } from '../helpers/dump-target.js';
import { withoutNodeNoise } from '../helpers/node-noise.js';
import { waitInSyscall } from '../helpers/dump-in-syscall.js';
import { dump, type DumpEvent } from '../../src/dump/index.js';
import * as sys from '../../src/sys/index.js';

// The compiled CLI beside this compiled test (dist*/src/cli/main.js).
const cli = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'src', 'cli', 'main.js');
void repoRoot;

const tracer = (pid: number) => Number(/TracerPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

/**
 * dump-state's verdict after SIGTERM. On x86_64 it held known values in every register (general,
 * vector, x87, MXCSR) the whole time; elsewhere it checks no registers, and the test says so as a skip.
 */
function finishChecked(t: Target, ctx: TestContext): string {
  const verdict = t.finish();
  if (process.arch === 'x64') assert.equal(t.ready.regs, 'all', 'dump-state holds every register on x86_64');
  else if (verdict === 'PASS') ctx.skip(`dump-state checks no registers on ${process.arch} (only x86_64 has its register frame)`);
  return verdict;
}

const NT_PRSTATUS = 1;
/** x86_64's pause(), where x86-regs.h's loop holds every register. */
const PAUSE_NR = 34;
const NT_X86_XSTATE = 0x202;

test('dump-state notices a register changed behind its back (general and vector)', { skip: process.arch !== 'x64' && 'the register frame is x86_64 only' }, () => {
  // r12 in user_regs_struct; xmm3 word 0 in the legacy area of the xsave block.
  for (const [nt, size, off, want] of [[NT_PRSTATUS, 27 * 8, 3 * 8, /^FAIL: r12 = 0x42, want 0x1212121212121212$/], [NT_X86_XSTATE, 16384, 160 + 3 * 16, /^FAIL: vector register 3 word 0 = 0x42, want 0xa5030000$/]] as const) {
    const t = startTarget('dump-state');
    try {
      // READY comes before the program loads its registers: a value written earlier would be overwritten.
      waitInSyscall(t.pid, PAUSE_NR, 'dump-state');
      sys.ptrace.seize(t.pid);
      sys.ptrace.interrupt(t.pid);
      sys.waitForStop(t.pid);
      const regs = sys.ptrace.getRegset(t.pid, nt, size);
      if (nt === NT_PRSTATUS) regs.writeBigUInt64LE(0x42n, off); else regs.writeUInt32LE(0x42, off);
      sys.ptrace.setRegset(t.pid, nt, regs);
      sys.ptrace.detach(t.pid);
      assert.match(t.finish(), want);
    } finally {
      t.cleanup();
    }
  }
});

test('dump of a PID that does not exist is one clear line', () => {
  const r = spawnSync(process.execPath, [cli, 'dump', '-t', '4000000', '-D', '/tmp/cryo-never'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(withoutNodeNoise(r.stderr), 'cryo: no process 4000000\n');
});

test('a kernel thread, cryo\'s own ancestor, a -t that is no PID: one line each; a failed dump removes the directory it made', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'dump', ...args], { encoding: 'utf8' });
  const kthread = readdirSync('/proc').find((d) => /^\d+$/.test(d) && /^Kthread:\s+1$/m.test((() => { try { return readFileSync(`/proc/${d}/status`, 'utf8'); } catch { return ''; } })()));
  const dir = `/tmp/cryo-never-${process.pid}`;
  if (kthread !== undefined) {
    assert.match(withoutNodeNoise(run('-t', kthread, '-D', dir).stderr), new RegExp(`^cryo: task ${kthread} \\(.*\\) is a kernel thread: only user processes can be dumped\n$`));
  }
  // This test's process is the CLI's parent.
  assert.equal(withoutNodeNoise(run('-t', String(process.pid), '-D', dir).stderr).replace(/pid \d+/, 'pid N'),
    `cryo: process ${process.pid} is an ancestor of cryo (pid N): cryo cannot freeze a tree it runs in; dump a process outside its line (start it with setsid, or from another shell)\n`);
  assert.match(withoutNodeNoise(run('-t', '12ab', '-D', dir).stderr), /^cryo: dump: -t 12ab is not a process ID: give the PID, a positive number \(usage: /);
  // Refused once frozen (its session's leader, this test's, is not dumped): the directory made for it goes.
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const made = path.join(dir, 'a', 'b');
    const r = run('-t', String(sleeper.pid), '-D', made);
    assert.match(withoutNodeNoise(r.stderr), /^cryo: task \d+ is in session \d+ led by a process cryo does not dump/);
    assert.throws(() => statSync(dir), /ENOENT/);
    // One that was there before the dump stays.
    spawnSync('mkdir', ['-p', made]);
    run('-t', String(sleeper.pid), '-D', made);
    assert.ok(statSync(made).isDirectory());
  } finally {
    sleeper.kill('SIGKILL');
    spawnSync('rm', ['-rf', dir]);
  }
});

test('a hugetlb mapping is refused in one line, naming it; the task runs on', (ctx) => {
  // Huge pages must be reserved for the program to map one: one is, for this test, where none are.
  const nr = '/proc/sys/vm/nr_hugepages';
  const before = readFileSync(nr, 'utf8').trim();
  try {
    if (before === '0') writeFileSync(nr, '1');
  } catch {
    ctx.skip('no huge pages here, and vm.nr_hugepages cannot be set');
    return;
  }
  try {
    let t: Target;
    try {
      t = startTarget('rt-hugetlb');
    } catch (e) {
      ctx.skip(`no huge page to map: ${(e as Error).message}`);
      return;
    }
    try {
      const r = spawnSync(process.execPath, [cli, 'dump', '-t', String(t.pid), '-D', path.join(t.dir, 'img')], { encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.equal(withoutNodeNoise(r.stderr), `cryo: task ${t.pid} maps hugetlb memory (huge pages: MAP_HUGETLB, SHM_HUGETLB or a hugetlbfs file, /anon_hugepage) at ${t.ready.at}: cryo cannot dump huge pages yet (transparent huge pages it can: use those)\n`);
      assert.equal(tracer(t.pid), 0);
      assert.equal(t.finish(), 'PASS');
    } finally {
      t.cleanup();
    }
  } finally {
    if (before === '0') writeFileSync(nr, before);
  }
});

test('a dump into a path that is a file, or under one, is one line saying so; the task runs on', (ctx) => {
  const t = startTarget('dump-state');
  try {
    const file = path.join(t.dir, 'a-file');
    writeFileSync(file, 'not a directory');
    for (const [dir, why] of [[file, 'a file that is not a directory is there'], [path.join(file, 'img'), 'a part of its path is a file, not a directory']] as const) {
      const r = spawnSync(process.execPath, [cli, 'dump', '-t', String(t.pid), '-D', dir], { encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.equal(withoutNodeNoise(r.stderr), `cryo: the images directory ${dir} cannot be made: ${why}; give -D a directory\n`);
    }
    assert.equal(tracer(t.pid), 0);
    assert.equal(finishChecked(t, ctx), 'PASS');
  } finally {
    t.cleanup();
  }
});

test('a dump that fails after injecting leaves the task as it was', (ctx) => {
  const t = startTarget('dump-state');
  try {
    const maps = readFileSync(`/proc/${t.pid}/maps`, 'utf8');
    const r = spawnSync(process.execPath, [cli, 'dump', '-t', String(t.pid), '-D', path.join(t.dir, 'img')], {
      encoding: 'utf8', env: { ...process.env, CRYO_FAULT: 'dump:scratch' },
    });
    assert.equal(r.status, 1);
    assert.match(withoutNodeNoise(r.stderr), /^cryo: fault injected at dump step 'scratch' \(CRYO_FAULT=dump:scratch\)\n$/);
    assert.equal(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), maps, 'no scratch page left');
    assert.equal(tracer(t.pid), 0, 'detached');
    assert.equal(finishChecked(t, ctx), 'PASS');
  } finally {
    t.cleanup();
  }
});

/** Starts `cryo dump` (with `args` and CRYO_FAULT=`fault`) and resolves once its stderr shows `line`. */
async function cryoDumpUntil(args: string[], fault: string, line: RegExp): Promise<{ child: ReturnType<typeof spawn>; err: () => string; exit: Promise<number | null> }> {
  const child = spawn(process.execPath, [cli, 'dump', ...args], { env: { ...process.env, CRYO_FAULT: fault }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  // 'close', not 'exit': stderr's last line may still be in the pipe when cryo has exited.
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (line.test(err)) resolve();
    });
    void exit.then(() => reject(new Error(`cryo dump ended before ${line}: ${err}`)));
  });
  return { child, err: () => err, exit };
}

// Every terminating signal cryo can catch ends a dump the same way: SIGINT and SIGTERM, SIGHUP
// (the terminal went away), SIGQUIT, and the rest of src/cli/signals.ts's list.
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGALRM'] as const) {
  test(`${sig} to cryo in the middle of a dump leaves the task as it was`, async (ctx) => {
    const t = startTarget('dump-state');
    try {
      const maps = readFileSync(`/proc/${t.pid}/maps`, 'utf8');
      // CRYO_FAULT pauses the dump right after the scratch page is mapped, and says so.
      const run = await cryoDumpUntil(['-t', String(t.pid), '-D', path.join(t.dir, 'img')], 'dump:scratch:pause', /paused at dump step 'scratch'/);
      assert.notEqual(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), maps, 'the dump is half way');
      assert.notEqual(tracer(t.pid), 0, 'the task is traced');
      run.child.kill(sig);
      assert.equal(await run.exit, 1);
      assert.match(run.err(), /cryo: dump of task \d+ was interrupted; the task runs on as it was\n$/);
      assert.equal(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), maps, 'no scratch page left');
      assert.equal(tracer(t.pid), 0, 'detached');
      assert.equal(finishChecked(t, ctx), 'PASS');
    } finally {
      t.cleanup();
    }
  });
}

test('cryo dump -o LOG on a full disk (/dev/full): one line, the task unharmed', (ctx) => {
  const t = startTarget('dump-state');
  try {
    const maps = readFileSync(`/proc/${t.pid}/maps`, 'utf8');
    const r = spawnSync(process.execPath, [cli, 'dump', '-vv', '-o', '/dev/full', '-t', String(t.pid), '-D', path.join(t.dir, 'img')], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(withoutNodeNoise(r.stderr), /^cryo: the dump's event callback failed: ENOSPC[^\n]*\n$/);
    assert.equal(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), maps);
    assert.equal(tracer(t.pid), 0);
    assert.equal(finishChecked(t, ctx), 'PASS');
  } finally {
    t.cleanup();
  }
});

// The event callback may throw anywhere (a log on a full disk): the undo runs all the same. The
// events where it throws here: the first image written (everything injected is in place), the
// start of the undo itself, and the kill of a dump that succeeded otherwise.
for (const when of [
  { name: 'at the first image written', hit: (e: DumpEvent) => e.type === 'image' },
  { name: 'when the undo starts', hit: (e: DumpEvent) => e.type === 'stage' && e.stage === 'undo' },
]) {
  test(`an event callback that throws ${when.name}: the dump fails, the task runs on as it was`, async (ctx) => {
    const t = startTarget('dump-state');
    try {
      const maps = readFileSync(`/proc/${t.pid}/maps`, 'utf8');
      const status = readFileSync(`/proc/${t.pid}/status`, 'utf8');
      const sigBlk = (text: string) => /^SigBlk:\s*(\w+)/m.exec(text)![1];
      await assert.rejects(dump({
        pid: t.pid, dir: path.join(t.dir, 'img'),
        onEvent: (e) => { if (when.hit(e)) throw new Error('ENOSPC: no space left on device, write'); },
      }), /event callback failed: ENOSPC/);
      assert.equal(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), maps, 'no scratch page or batch area left');
      assert.equal(tracer(t.pid), 0, 'detached');
      assert.equal(sigBlk(readFileSync(`/proc/${t.pid}/status`, 'utf8')), sigBlk(status), 'its signal mask');
      assert.equal(finishChecked(t, ctx), 'PASS');
    } finally {
      t.cleanup();
    }
  });
}

test('--leave-running: the images are written and the task runs on unharmed', (ctx) => {
  const t = startTarget('dump-state');
  try {
    const r = spawnSync(process.execPath, [cli, 'dump', '--leave-running', '-t', String(t.pid), '-D', path.join(t.dir, 'img')], { encoding: 'utf8' });
    assert.equal(withoutNodeNoise(r.stderr), '');
    assert.equal(r.status, 0);
    assert.equal(tracer(t.pid), 0);
    assert.equal(finishChecked(t, ctx), 'PASS');
  } finally {
    t.cleanup();
  }
});

test('--leave-running dump of a large process (many batches of vmsplices): its maps are as before', () => {
  const t = startTarget('dump-large', ['96']);
  try {
    const maps = readFileSync(`/proc/${t.pid}/maps`, 'utf8');
    const r = spawnSync(process.execPath, [cli, 'dump', '--leave-running', '-t', String(t.pid), '-D', path.join(t.dir, 'img')], { encoding: 'utf8' });
    assert.equal(withoutNodeNoise(r.stderr), '');
    assert.equal(r.status, 0);
    assert.equal(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), maps, 'no scratch page, batch runner or other area left');
    assert.ok(!readdirSync(`/proc/${t.pid}/fd`).some((fd) => Number(fd) > 2 && readlinkSync(`/proc/${t.pid}/fd/${fd}`).startsWith('pipe:')), 'no pipe left');
    assert.equal(tracer(t.pid), 0);
    assert.ok(statSync(path.join(t.dir, 'img', 'pages-1.img')).size >= 96 * 0.8 * (1 << 20) - 4096, 'the pages were written');
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});

test('a dump while cryo takes a signal every millisecond (SIGPROF of --cpu-prof) completes; its waits are not cut short', () => {
  const t = startTarget('dump-large', ['96']);
  try {
    const maps = readFileSync(`/proc/${t.pid}/maps`, 'utf8');
    const r = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${path.join(t.dir, 'prof')}`, cli, 'dump', '--leave-running', '-t', String(t.pid), '-D', path.join(t.dir, 'img')], { encoding: 'utf8' });
    assert.equal(withoutNodeNoise(r.stderr), '');
    assert.equal(r.status, 0);
    assert.equal(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), maps, 'no scratch page, batch runner or other area left');
    assert.equal(tracer(t.pid), 0);
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});
