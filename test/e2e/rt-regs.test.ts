// Registers come back exactly as they were: test/programs/rt-regs.c holds known values in the
// general registers, x87/SSE/AVX(-512) state, MXCSR, FS (TLS) and GS bases while it sits in
// pause(); it is dumped there, restored, and checks every register on SIGTERM (and that pause()
// was restarted transparently). Edited core images prove each check notices a difference.
// A dump SIGKILLed inside a call it injected leaves the task to rt_sigreturn into the same state.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { dumpInSyscall, waitInSyscall } from '../helpers/dump-in-syscall.js';
import { cleanupDumped, restoreAndFinish, type Dumped } from '../helpers/round-trip.js';
import { onlyOn } from '../helpers/arch-only.js';
import { avx512Skip } from '../helpers/cpu.js';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { startTarget, type Target } from '../helpers/dump-target.js';
import { cryoCli } from '../helpers/cryo-cli.js';

const skip = onlyOn(['x64'], 'x86_64 registers');

const NR_PAUSE = 34;
let d: Dumped | undefined;
after(() => cleanupDumped(d));

/** Restores and waits for pause() to be re-entered before SIGTERM (sent earlier, it would be handled first). */
const roundTrip = (edit?: (dir: string) => void) => restoreAndFinish(d!, edit, { inSyscall: NR_PAUSE });

function editThreadInfo(dir: string, pid: number, edit: (ti: MessageValue) => void): void {
  editImage(dir, `core-${pid}.img`, (e) => edit(e[0]!.thread_info as MessageValue));
}

const xsave = (ti: MessageValue) => (ti.fpregs as MessageValue).xsave as MessageValue;

test('registers: general, FS/GS base, x87, MXCSR, SSE/AVX/AVX-512; pause() restarted', { skip }, async () => {
  d = await dumpInSyscall('rt-regs', [], NR_PAUSE);
  const { pid } = d;
  assert.equal(d.target.ready.avx512, avx512Skip() === false ? '1' : '0', 'the program and the host agree on AVX-512');
  assert.equal(await roundTrip(), 'PASS');

  const gp = (ti: MessageValue) => ti.gpregs as MessageValue;
  const fp = (ti: MessageValue) => ti.fpregs as MessageValue;
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => { gp(ti).r12 = 0x42n; })),
    /^FAIL: r12 = 0x42, want 0x1212121212121212/);
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => { gp(ti).gs_base = BigInt(d!.target.ready.gs!) + 8n; })),
    /^FAIL: gs base 0x[0-9a-f]+, want 0x/);
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => { (fp(ti).xmm_space as number[])[3 * 4] = 0xdeadbeef; })),
    /^FAIL: vector register 3 word 0 = 0xdeadbeef, want 0xa5030000/);
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => { fp(ti).mxcsr = 0x1f80; })),
    /^FAIL: MXCSR 0x1f80, want 0x7f80/);
  // Resumed after the syscall with EINTR instead of restarting it: pause() returns without a signal.
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => {
    gp(ti).ip = (gp(ti).ip as bigint) + 2n;
    gp(ti).ax = (1n << 64n) - 4n;
  })), /^FAIL: pause\(\) returned 2 times, want once/);
  // x87 registers, the x87 control word and the AVX upper halves.
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => { (fp(ti).st_space as number[])[0]! ^= 1; })),
    /^FAIL: x87 registers st0\/st1 differ/);
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => { fp(ti).cwd = 0x37f; })),
    /^FAIL: x87 control word 0x37f, want 0xc7f/);
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => { (xsave(ti).ymmh_space as number[])[5 * 4 + 1] = 0x1234; })),
    /^FAIL: vector register 5 word 5 = 0x1234, want 0xa5050005/);
});

test('registers: AVX-512 (zmm16-31, k0-7) come back, and a changed one is noticed', { skip: skip || avx512Skip() }, async () => {
  assert.ok(d, 'the dump of the test above');
  const { pid } = d;
  // zmm20 word 2 is the low half of hi16_zmm's u64 number 4*8+1; k6 is opmask_reg[6].
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => {
    const h = xsave(ti).hi16_zmm as bigint[];
    h[4 * 8 + 1] = (h[4 * 8 + 1]! & ~0xffffffffn) | 0x777n;
  })), /^FAIL: vector register 20 word 2 = 0x777, want 0xa5140002/);
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => { (xsave(ti).opmask_reg as bigint[])[6] = 5n; })),
    /^FAIL: k6 = 0x5, want 0x707070707070707/);
});

/**
 * `cryo dump --leave-running` of rt-regs (in pause()) SIGKILLed inside an injected call (`env`
 * added): by default its second, the first after its call-ending area is in place; 'first' and
 * 'last' are that area's own mmap and munmap (on the vDSO's spare code); returns cryo's end signal.
 */
function dumpKilledInCall(t: Target, env: NodeJS.ProcessEnv, which: 'second' | 'first' | 'last' = 'second'): string | null {
  const run = (name: string, extra: NodeJS.ProcessEnv) => {
    waitInSyscall(t.pid, NR_PAUSE, 'rt-regs');
    const dir = path.join(t.dir, name);
    const r = spawnSync(process.execPath, [cryoCli, 'dump', '-t', String(t.pid), '-D', dir, '--leave-running'], { env: { ...process.env, ...env, ...extra } });
    rmSync(dir, { recursive: true, force: true });
    return r.signal;
  };
  const trace = path.join(t.dir, 'points');
  assert.equal(run('count', { CRYO_FAULT_TRACE: trace }), null);
  const calls = readFileSync(trace, 'utf8').trim().split('\n').flatMap((l, i) => (/ injected into task /.test(l) ? [i + 1] : []));
  const n = which === 'first' ? calls[0] : which === 'last' ? calls[calls.length - 1] : calls[1];
  return run('killed', { CRYO_FAULT: `dump:${n}:kill-in-call` });
}

/** cryo dump SIGKILLed inside a call (`which`, else the usual point): PASS when the task went on unharmed in pause(). */
function afterKilledDump(env: NodeJS.ProcessEnv, which?: 'first' | 'last', unharmed = true): void {
  const t = startTarget('rt-regs');
  try {
    assert.equal(dumpKilledInCall(t, env, which), 'SIGKILL');
    if (!unharmed) {
      assert.notEqual(t.finish(), 'PASS');
      return;
    }
    waitInSyscall(t.pid, NR_PAUSE, 'rt-regs after the killed dump');
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
}

test('SIGKILL of cryo dump inside an injected call: the task rt_sigreturns into its own registers, vector state and mask, and pause() goes on', { skip }, () => {
  afterKilledDump({});
});

test('without the rt_sigreturn ending (CRYO_CALL_ENDING=off) the same kill harms the task, and its check says so', { skip }, () => {
  afterKilledDump({ CRYO_CALL_ENDING: 'off' }, undefined, false);
});

for (const which of ['first', 'last'] as const) {
  test(`SIGKILL of cryo dump inside its ${which} call (the ${which === 'first' ? 'mmap' : 'munmap'} of its call-ending area, run on code in the vDSO's spare tail): the task gets its own registers and mask back, and pause() goes on`, { skip }, () => {
    afterKilledDump({}, which);
  });
}

test("without the vDSO's spare code (CRYO_VDSO_SPARE=off) a kill inside the first call harms the task, and its check says so", { skip }, () => {
  afterKilledDump({ CRYO_VDSO_SPARE: 'off' }, 'first', false);
});
