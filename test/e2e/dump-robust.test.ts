// `cryo dump` as a command: clear one-line errors, and a dump that fails or is interrupted leaves
// the task exactly as it was (no scratch page, registers and signal state intact, not traced).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { repoRoot } from '../helpers/paths.js';
import { startTarget, type Target } from '../helpers/dump-target.js';
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
const NT_X86_XSTATE = 0x202;

test('dump-state notices a register changed behind its back (general and vector)', { skip: process.arch !== 'x64' && 'the register frame is x86_64 only' }, () => {
  // r12 in user_regs_struct; xmm3 word 0 in the legacy area of the xsave block.
  for (const [nt, size, off, want] of [[NT_PRSTATUS, 27 * 8, 3 * 8, /^FAIL: r12 = 0x42, want 0x1212121212121212$/], [NT_X86_XSTATE, 16384, 160 + 3 * 16, /^FAIL: vector register 3 word 0 = 0x42, want 0xa5030000$/]] as const) {
    const t = startTarget('dump-state');
    try {
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
  assert.equal(r.stderr, 'cryo: no process 4000000\n');
});

test('a dump that fails after injecting leaves the task as it was', (ctx) => {
  const t = startTarget('dump-state');
  try {
    const maps = readFileSync(`/proc/${t.pid}/maps`, 'utf8');
    const r = spawnSync(process.execPath, [cli, 'dump', '-t', String(t.pid), '-D', path.join(t.dir, 'img')], {
      encoding: 'utf8', env: { ...process.env, CRYO_DUMP_FAIL_AT: 'scratch' },
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^cryo: test failure injected at 'scratch' \(CRYO_DUMP_FAIL_AT\)\n$/);
    assert.equal(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), maps, 'no scratch page left');
    assert.equal(tracer(t.pid), 0, 'detached');
    assert.equal(finishChecked(t, ctx), 'PASS');
  } finally {
    t.cleanup();
  }
});

test('SIGTERM to cryo in the middle of a dump leaves the task as it was', async (ctx) => {
  const t = startTarget('dump-state');
  try {
    const maps = readFileSync(`/proc/${t.pid}/maps`, 'utf8');
    const child = spawn(process.execPath, [cli, 'dump', '-v', '-t', String(t.pid), '-D', path.join(t.dir, 'img')], {
      env: { ...process.env, CRYO_DUMP_PAUSE_AT: 'scratch' }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('cryo: inject')) resolve();
    }));
    // The scratch page is mapped now (cryo pauses right after it): interrupt.
    await new Promise((r) => setTimeout(r, 300));
    assert.notEqual(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), maps, 'the dump is half way');
    child.kill('SIGTERM');
    assert.equal(await exit, 1);
    assert.match(err, /cryo: dump of task \d+ was interrupted; the task runs on as it was\n$/);
    assert.equal(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), maps, 'no scratch page left');
    assert.equal(tracer(t.pid), 0, 'detached');
    assert.equal(finishChecked(t, ctx), 'PASS');
  } finally {
    t.cleanup();
  }
});

test('--leave-running: the images are written and the task runs on unharmed', (ctx) => {
  const t = startTarget('dump-state');
  try {
    const r = spawnSync(process.execPath, [cli, 'dump', '--leave-running', '-t', String(t.pid), '-D', path.join(t.dir, 'img')], { encoding: 'utf8' });
    assert.equal(r.stderr, '');
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
    assert.equal(r.stderr, '');
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
