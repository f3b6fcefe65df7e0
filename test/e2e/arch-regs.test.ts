// Proves the x86_64 register tables against the real kernel: a program holds
// known values in general and vector registers; cryo reads them through
// ptrace regsets, converts them to the image form and checks them, writes a
// few changed values back through the image -> regset direction, and the
// program checks it got exactly those changes.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { once } from 'node:events';
import { programsBinDir } from '../helpers/paths.js';
import { archFor } from '../../src/arch/index.js';
import { NT_PRSTATUS, NT_X86_XSTATE } from '../../src/arch/x86_64/regs.js';
import { verifyTableAgainstCpuid } from '../../src/arch/x86_64/xsave.js';
import type { X86_64Arch } from '../../src/arch/x86_64/index.js';
import * as sys from '../../src/sys/index.js';
import { onlyOn } from '../helpers/arch-only.js';
import { avx512Skip } from '../helpers/cpu.js';

const skip = onlyOn(['x64'], 'x86_64 registers and xsave');

const pat = (n: number, w: number): number => (0xa5000000 | (n << 16) | w) >>> 0;
const pat64 = (n: number, w: number): bigint => BigInt(pat(n, w)) | (BigInt(pat(n, w + 1)) << 32n);

const RBX_BACK = 0x0c0c0c0c0c0c0c0cn;

/**
 * Runs arch-regs under ptrace: reads its registers into the image form, checks them, writes r13, rbx
 * (`rbx`) and a few vector words back, and returns what the program printed. The AVX-512 part is a
 * subtest of `t`, skipped with the reason on a CPU without AVX-512.
 */
async function traceProgram(t: TestContext, rbx: bigint): Promise<{ out: string; code: number | null }> {
  const c = sys.hostCpuid();
  assert.ok(c, 'the sys layer offers cpuid on x86_64');
  const arch = archFor('x64', { cpuid: (l, s) => c.cpuid(l, s), xgetbv: (i) => c.xgetbv(i) }) as X86_64Arch;
  const layout = arch.xsaveLayout!;
  assert.equal(layout.source, 'cpuid');
  // The component table's sizes are what this CPU says.
  assert.deepEqual(verifyTableAgainstCpuid((l, s) => c.cpuid(l, s), layout.xfeatures).sizes, []);

  const child = spawn(path.join(programsBinDir, 'arch-regs'), [], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const closed = once(child, 'close');
  try {
    while (!out.includes('\n')) await new Promise((r) => setTimeout(r, 5));
    const avx512 = out.startsWith('READY 1');
    assert.equal(avx512, avx512Skip() === false, 'the program and the host agree on AVX-512');
    const pid = child.pid!;
    sys.ptrace.seize(pid);
    // Stop it once the asm block has loaded the registers (r12 = the marker).
    let regsets = new Map<number, Buffer>();
    for (let tries = 0; ; tries++) {
      sys.ptrace.interrupt(pid);
      sys.waitForStop(pid);
      const prs = sys.ptrace.getRegset(pid, NT_PRSTATUS, 216);
      if (prs.readBigUInt64LE(24) === 0x1212121212121212n) {
        regsets = new Map([[NT_PRSTATUS, prs], [NT_X86_XSTATE, sys.ptrace.getRegset(pid, NT_X86_XSTATE, 16384)]]);
        break;
      }
      assert.ok(tries < 200, 'the program never reached its register loop');
      sys.ptrace.cont(pid);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(regsets.get(NT_X86_XSTATE)!.length, layout.size);

    const ti = arch.threadInfoFromRegsets(regsets);
    // The other direction gives back the kernel's bytes exactly: the tables cover everything it hands out.
    const back = arch.regsetsFromThreadInfo(ti);
    assert.deepEqual(back.get(NT_PRSTATUS), regsets.get(NT_PRSTATUS));
    assert.deepEqual(back.get(NT_X86_XSTATE), regsets.get(NT_X86_XSTATE));

    const gp = ti.gpregs as Record<string, bigint>;
    assert.deepEqual([gp.r12, gp.r13, gp.r14, gp.r15, gp.bx],
      [0x1212121212121212n, 0x1212121212121212n, 0x1414141414141414n, 0x1515151515151515n, 0x0b0b0b0b0b0b0b0bn]);
    assert.equal(gp.mode, 'NATIVE');
    const fp = ti.fpregs as Record<string, unknown>;
    const xsave = fp.xsave as Record<string, unknown>;
    const xmm = fp.xmm_space as number[];
    const ymmh = xsave.ymmh_space as number[];
    for (let n = 0; n < 16; n++) {
      for (let w = 0; w < 4; w++) assert.equal(xmm[n * 4 + w], pat(n, w), `xmm${n} word ${w}`);
      for (let w = 4; w < 8; w++) assert.equal(ymmh[n * 4 + w - 4], pat(n, w), `ymm${n} word ${w}`);
    }
    assert.equal((xsave.xstate_bv as bigint) & 0x6n, 0x6n); // SSE, AVX in use (x87 need not be)
    await t.test('AVX-512: zmm0-15 upper halves, zmm16-31 and k0-7 read through the tables', { skip: avx512Skip() }, () => {
      const zu = xsave.zmm_upper as bigint[];
      const hi = xsave.hi16_zmm as bigint[];
      const k = xsave.opmask_reg as bigint[];
      for (let n = 0; n < 16; n++) for (let j = 0; j < 4; j++) assert.equal(zu[n * 4 + j], pat64(n, 8 + 2 * j), `zmm${n}`);
      for (let n = 16; n < 32; n++) for (let j = 0; j < 8; j++) assert.equal(hi[(n - 16) * 8 + j], pat64(n, 2 * j), `zmm${n}`);
      for (let n = 0; n < 8; n++) assert.equal(k[n], 0x0101010101010101n * BigInt(n + 1), `k${n}`);
      assert.equal((xsave.xstate_bv as bigint) & 0xe0n, 0xe0n);
    });

    // Change a few values in the image and write them back.
    gp.r13 = 0x1313131313131313n;
    gp.bx = rbx;
    xmm[3 * 4] = 0xdeadbeef;
    ymmh[7 * 4] = 0xfeedface;
    if (avx512) {
      const zu = xsave.zmm_upper as bigint[];
      zu[9 * 4 + 2] = (zu[9 * 4 + 2]! & 0xffffffff00000000n) | 0xc0ffee00n;
      const hi = xsave.hi16_zmm as bigint[];
      hi[4 * 8] = (hi[4 * 8]! & 0xffffffff00000000n) | 0xabad1dean;
      (xsave.opmask_reg as bigint[])[2] = 0x123456789abcdef0n;
    }
    for (const [nt, buf] of arch.regsetsFromThreadInfo(ti)) sys.ptrace.setRegset(pid, nt, buf);
    sys.ptrace.detach(pid);
    const [code] = await closed;
    return { out, code: code as number | null };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

test('x86_64 registers: regsets -> image -> regsets against a live process', { skip, timeout: 30_000 }, async (t) => {
  const { out, code } = await traceProgram(t, RBX_BACK);
  assert.equal(out.trim().split('\n').pop(), 'PASS', out);
  assert.equal(code, 0);
});

test('x86_64 registers: the program notices a general register written back wrong', { skip, timeout: 30_000 }, async (t) => {
  const { out, code } = await traceProgram(t, 0x42n);
  assert.match(out, /^FAIL: rbx = 0x42, want 0xc0c0c0c0c0c0c0c$/m);
  assert.equal(code, 1);
});
