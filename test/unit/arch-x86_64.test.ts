// The x86_64 register tables: both directions agree, the signal frame matches
// the kernel's structs, restart rules and CPU feature checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createX86_64 } from '../../src/arch/x86_64/index.js';
import {
  GP_REGS, NT_PRFPREG, NT_PRSTATUS, NT_X86_XSTATE, XSAVE_COMPONENTS,
} from '../../src/arch/x86_64/regs.js';
import { defaultLayout, layoutFromCpuid, verifyTableAgainstCpuid, writeSwBytes, type XsaveLayout } from '../../src/arch/x86_64/xsave.js';
import { ERESTART_RESTARTBLOCK, ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS } from '../../src/arch/x86_64/restart.js';
import { FREEZE_RESTARTABLE } from '../../src/arch/restart-rules.js';
import type { CpuProbe, ThreadInfo } from '../../src/arch/types.js';

// CPUID leaf 0xD and XCR0 as this project's x86_64 machine reports them
// (Intel, AVX-512 and MPX enabled), read with a small C helper.
const INTEL: Record<number, [number, number]> = { 0: [0x2ff, 2696], 2: [256, 576], 3: [64, 960], 4: [64, 1024],
  5: [64, 1088], 6: [512, 1152], 7: [1024, 1664], 9: [8, 2688] };
// An AMD-like CPU without MPX that packs AVX-512 and PKRU lower (offsets differ from the defaults).
const PACKED: Record<number, [number, number]> = { 0: [0x2e7, 2440], 2: [256, 576], 5: [64, 832], 6: [512, 896],
  7: [1024, 1408], 9: [8, 2432] };

function probeOf(t: Record<number, [number, number]>, xcr0: bigint): CpuProbe {
  return {
    cpuid: (leaf, sub) => {
      assert.equal(leaf, 0xd);
      const [eax, ebx] = t[sub] ?? [0, 0];
      return { eax, ebx, ecx: sub === 0 ? ebx : 0, edx: 0 };
    },
    xgetbv: () => xcr0,
  };
}

function kernelLikeXstate(layout: XsaveLayout, seed: () => Buffer): Buffer {
  const buf = Buffer.alloc(layout.size);
  // Every byte the tables describe gets random contents; the rest stays as the kernel leaves it.
  const rnd = seed();
  rnd.copy(buf, 0, 0, 416); // legacy region up to its unused tail
  const bv = layout.xfeatures & rnd.readBigUInt64LE(504);
  // A component outside xstate_bv is in its init state: the kernel gives zeros for it.
  for (const [bit, off] of layout.offsets) {
    if (bit < 2 || ((bv >> BigInt(bit)) & 1n) === 0n) continue;
    const c = XSAVE_COMPONENTS.find((x) => x.bit === bit)!;
    if (c.field) randomBytes(c.size).copy(buf, off);
  }
  writeSwBytes(buf, 0, layout, 'regset');
  buf.writeBigUInt64LE(bv | 3n, 512);
  return buf;
}

for (const [cpu, table, xcr0] of [['intel', INTEL, 0x2ffn], ['packed', PACKED, 0x2e7n]] as const) {
  test(`regsets -> image -> regsets is the identity (${cpu} layout)`, () => {
    const arch = createX86_64(probeOf(table, xcr0));
    for (let i = 0; i < 50; i++) {
      const prs = randomBytes(216);
      const xstate = kernelLikeXstate(arch.xsaveLayout!, () => randomBytes(512));
      const ti = arch.threadInfoFromRegsets(new Map([[NT_PRSTATUS, prs], [NT_X86_XSTATE, xstate]]));
      const back = arch.regsetsFromThreadInfo(ti);
      assert.deepEqual(back.get(NT_PRSTATUS), prs);
      assert.deepEqual(back.get(NT_X86_XSTATE), xstate);
    }
  });

  test(`image -> regsets -> image is the identity (${cpu} layout)`, () => {
    const arch = createX86_64(probeOf(table, xcr0));
    const layout = arch.xsaveLayout!;
    for (let i = 0; i < 50; i++) {
      const r64 = () => randomBytes(8).readBigUInt64LE();
      const r32 = () => randomBytes(4).readUInt32LE();
      const r16 = () => randomBytes(2).readUInt16LE();
      const gpregs: Record<string, unknown> = Object.fromEntries(GP_REGS.map((r) => [r.name, r64()]));
      gpregs.mode = 'NATIVE';
      const xsave: Record<string, unknown> = { xstate_bv: (r64() & layout.xfeatures) | 3n };
      for (const c of XSAVE_COMPONENTS) {
        if (!c.field || !layout.offsets.has(c.bit)) continue;
        const length = c.field.count;
        xsave[c.field.name] = c.field.image === 'u64' ? Array.from({ length }, r64) : Array.from({ length }, r32);
      }
      const ti: ThreadInfo = {
        clear_tid_addr: r64(),
        gpregs,
        fpregs: {
          cwd: r16(), swd: r16(), twd: r16(), fop: r16(), rip: r64(), rdp: r64(), mxcsr: r32(), mxcsr_mask: r32(),
          st_space: Array.from({ length: 32 }, r32), xmm_space: Array.from({ length: 64 }, r32), xsave,
        },
        tls: [],
      };
      const again = arch.threadInfoFromRegsets(arch.regsetsFromThreadInfo(ti), { clearTidAddr: ti.clear_tid_addr as bigint });
      // What xstate_bv leaves out comes back in its init state (zeros), whatever the image held.
      for (const c of XSAVE_COMPONENTS) {
        if (c.field && layout.offsets.has(c.bit) && ((xsave.xstate_bv as bigint) >> BigInt(c.bit) & 1n) === 0n) {
          xsave[c.field.name] = (xsave[c.field.name] as unknown[]).map((v) => (typeof v === 'bigint' ? 0n : 0));
        }
      }
      assert.deepEqual(again, ti);
    }
  });
}

test('an fxsave-only thread (NT_PRFPREG) round-trips without an xsave entry', () => {
  const arch = createX86_64();
  const fx = Buffer.alloc(512);
  randomBytes(416).copy(fx);
  const ti = arch.threadInfoFromRegsets(new Map([[NT_PRSTATUS, randomBytes(216)], [NT_PRFPREG, fx]]));
  assert.equal((ti.fpregs as Record<string, unknown>).xsave, undefined);
  assert.deepEqual(arch.regsetsFromThreadInfo(ti).get(NT_PRFPREG), fx);
});

test('an ia32 thread (68-byte NT_PRSTATUS) is stored with mode COMPAT and round-trips', () => {
  const arch = createX86_64();
  const prs = randomBytes(68);
  const ti = arch.threadInfoFromRegsets(new Map([[NT_PRSTATUS, prs]]));
  const gp = ti.gpregs as Record<string, unknown>;
  assert.equal(gp.mode, 'COMPAT');
  assert.equal(gp.r8, 0n);
  assert.equal(gp.bx, BigInt(prs.readUInt32LE(0)));
  assert.equal(gp.ss, BigInt(prs.readUInt32LE(64)));
  assert.deepEqual(arch.regsetsFromThreadInfo(ti).get(NT_PRSTATUS), prs);
});

test('the layout comes from CPUID, and the table agrees with this machine\'s CPUID', () => {
  const cpuid = probeOf(INTEL, 0x2ffn).cpuid!;
  assert.deepEqual(verifyTableAgainstCpuid(cpuid, 0x2ffn), { sizes: [], offsets: [] });
  const packed = probeOf(PACKED, 0x2e7n).cpuid!;
  const v = verifyTableAgainstCpuid(packed, 0x2e7n);
  assert.deepEqual(v.sizes, []);
  assert.equal(v.offsets.length, 4);
  assert.match(v.offsets[0]!, /AVX-512 opmask: CPUID says offset 832, the table's default 1088/);
  const l = layoutFromCpuid(packed, 0x2e7n);
  assert.equal(l.offsets.get(9), 2432);
  assert.equal(l.size, 2440);
  // A wrong size in CPUID is reported.
  const bad = probeOf({ ...INTEL, 6: [256, 1152] }, 0x2ffn).cpuid!;
  assert.match(verifyTableAgainstCpuid(bad, 0x2ffn).sizes[0]!, /ZMM_Hi256: CPUID says 256 bytes, the table 512/);
});

// Offsets from the kernel's uapi headers (asm/sigcontext.h, asm-generic/ucontext.h), printed by
// offsetof/sizeof in C on this machine: sizeof(struct ucontext) = 304, uc_stack at 16, uc_mcontext at 40,
// uc_sigmask at 296, sizeof(struct sigcontext) = 256, fpstate at 184, sw_reserved at 464 of _fpstate_64.
const UC = 8; // rt_sigframe: pretcode, then ucontext
const MC = UC + 40;
const SIGCONTEXT_OFFSETS: Record<string, [number, number]> = {
  r8: [0, 8], r9: [8, 8], r10: [16, 8], r11: [24, 8], r12: [32, 8], r13: [40, 8], r14: [48, 8], r15: [56, 8],
  di: [64, 8], si: [72, 8], bp: [80, 8], bx: [88, 8], dx: [96, 8], ax: [104, 8], cx: [112, 8], sp: [120, 8],
  ip: [128, 8], flags: [136, 8], cs: [144, 2], gs: [146, 2], fs: [148, 2], ss: [150, 2],
};

test('the signal frame has the kernel\'s x86_64 rt_sigframe layout', () => {
  const arch = createX86_64(probeOf(INTEL, 0x2ffn));
  const gpregs: Record<string, unknown> = Object.fromEntries(GP_REGS.map((r, i) => [r.name, BigInt(0x1100 + i)]));
  gpregs.mode = 'NATIVE';
  const xstate = kernelLikeXstate(arch.xsaveLayout!, () => randomBytes(512));
  const ti = arch.threadInfoFromRegsets(new Map([[NT_PRSTATUS, arch.regsetsFromThreadInfo({ gpregs }).get(NT_PRSTATUS)!],
    [NT_X86_XSTATE, xstate]]));
  const at = 0x7fff00001008n; // deliberately not 64-aligned
  const { frame, frameAddress, sp } = arch.buildSigframe(ti, {
    sigmask: 0x8000000000000401n, altstack: { sp: 0x5000n, flags: 0, size: 0x4000n }, addressOfFrame: at,
  });
  assert.equal(frameAddress, at);
  assert.equal(sp, at + 8n);
  assert.equal(frame.readBigUInt64LE(UC), 7n); // UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS
  assert.equal(frame.readBigUInt64LE(UC + 8), 0n); // uc_link
  assert.equal(frame.readBigUInt64LE(UC + 16), 0x5000n);
  assert.equal(frame.readInt32LE(UC + 24), 0);
  assert.equal(frame.readBigUInt64LE(UC + 32), 0x4000n);
  assert.equal(frame.readBigUInt64LE(UC + 296), 0x8000000000000401n);
  for (const [name, [off, size]] of Object.entries(SIGCONTEXT_OFFSETS)) {
    const i = GP_REGS.findIndex((r) => r.name === name);
    const got = size === 8 ? frame.readBigUInt64LE(MC + off) : BigInt(frame.readUInt16LE(MC + off));
    assert.equal(got, BigInt(0x1100 + i), name);
  }
  const fpstate = frame.readBigUInt64LE(MC + 184);
  assert.equal(fpstate % 64n, 0n);
  assert.ok(fpstate >= at + 440n); // after pretcode + ucontext + siginfo
  const fo = Number(fpstate - at);
  assert.equal(frame.readUInt32LE(fo + 464), 0x46505853); // FP_XSTATE_MAGIC1
  assert.equal(frame.readUInt32LE(fo + 464 + 4), 2696 + 4); // extended_size
  assert.equal(frame.readBigUInt64LE(fo + 464 + 8), 0x2ffn); // xfeatures
  assert.equal(frame.readUInt32LE(fo + 464 + 16), 2696); // xstate_size
  assert.equal(frame.readUInt32LE(fo + 2696), 0x46505845); // FP_XSTATE_MAGIC2 right after the area
  assert.equal(frame.length, fo + 2696 + 4);
  // The FP area is the xsave regset's bytes (same tables) but for sw_reserved; xcomp_bv 0.
  assert.deepEqual(frame.subarray(fo, fo + 464), xstate.subarray(0, 464));
  assert.deepEqual(frame.subarray(fo + 512, fo + 2696), xstate.subarray(512));
  assert.equal(frame.readBigUInt64LE(fo + 520), 0n);
  // Without an altstack: SS_DISABLE.
  const f2 = arch.buildSigframe(ti, { sigmask: 0n, addressOfFrame: at }).frame;
  assert.equal(f2.readInt32LE(UC + 24), 2);
  assert.deepEqual(arch.notRestoredBySigreturn, ['orig_ax', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs']);
});

function tiIn(ax: bigint, origAx: bigint, ip = 0x401000n): ThreadInfo {
  return { gpregs: { ax: BigInt.asUintN(64, ax), orig_ax: BigInt.asUintN(64, origAx), ip, mode: 'NATIVE' } };
}

test('syscall restart: the dumped registers are what the kernel (and CRIU) would resume with', () => {
  const arch = createX86_64();
  const gp = (ti: ThreadInfo) => ti.gpregs as Record<string, bigint>;
  for (const e of [ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND]) {
    const r = arch.fixSyscallRestart(tiIn(-BigInt(e), 7n));
    assert.equal(r.action, 'restart');
    assert.equal(gp(r.threadInfo).ax, 7n);
    assert.equal(gp(r.threadInfo).ip, 0x401000n - 2n);
  }
  const rb = arch.fixSyscallRestart(tiIn(-BigInt(ERESTART_RESTARTBLOCK), 230n));
  assert.equal(rb.action, 'eintr');
  assert.equal(gp(rb.threadInfo).ax, BigInt.asUintN(64, -4n));
  assert.equal(gp(rb.threadInfo).ip, 0x401000n);
  // The call ending's frame (a task left running): the call again, with its own number.
  const runOn = arch.fixSyscallRestart(tiIn(-BigInt(ERESTART_RESTARTBLOCK), 230n), 'onRunOn');
  assert.equal(runOn.action, 'restart');
  assert.deepEqual([gp(runOn.threadInfo).ax, gp(runOn.threadInfo).ip], [230n, 0x401000n - 2n]);
  // Not in a syscall (orig_ax = -1), or a final result: unchanged.
  assert.equal(arch.fixSyscallRestart(tiIn(-BigInt(ERESTARTSYS), -1n)).action, 'none');
  assert.equal(arch.fixSyscallRestart(tiIn(-4n, 7n)).action, 'none');
  // The kernel's table, for the inject/signal code.
  const rule = (e: number) => arch.restartRules.find((r) => r.errno === e)!;
  assert.deepEqual([rule(ERESTARTSYS).handler, rule(ERESTARTSYS).handlerSaRestart], ['eintr', 'restart']);
  assert.deepEqual([rule(ERESTARTNOHAND).handler, rule(ERESTARTNOHAND).handlerSaRestart], ['eintr', 'eintr']);
  assert.deepEqual([rule(ERESTARTNOINTR).handler, rule(ERESTARTNOINTR).noHandler], ['restart', 'restart']);
  assert.equal(rule(ERESTART_RESTARTBLOCK).noHandler, 'restart_syscall');
});

test('the call a thread is stopped at the return of: orig_ax, the result, the arguments, the registers that enter it again; a wait that submitted something is not run again', () => {
  const arch = createX86_64();
  const args = { di: 3n, si: 0n, dx: 1n, r10: 1n, r8: 0x7000n, r9: 8n };
  const call = arch.stoppedCall({ gpregs: { ...tiIn(-4n, 426n).gpregs as object, ...args } })!;
  assert.deepEqual([call.nr, call.result, call.args], [426, -4n, [3n, 0n, 1n, 1n, 0x7000n, 8n]]);
  const again = call.again().gpregs as Record<string, bigint>;
  assert.deepEqual([again.ax, again.ip, again.di], [426n, 0x401000n - 2n, 3n]);
  assert.equal(arch.stoppedCall(tiIn(-4n, -1n)), undefined, 'not in a syscall');
  assert.equal(FREEZE_RESTARTABLE.io_uring_enter!(call.args), true);
  assert.equal(FREEZE_RESTARTABLE.io_uring_enter!([3n, 1n, 1n, 1n, 0n, 8n]), false, 'to_submit 1: the submission happened');
});

test('the syscall ABI sets number, arguments, IP and reads the result', () => {
  const arch = createX86_64();
  const regs = arch.syscall.prepare(Buffer.alloc(216), 0x1000n, 9, [1n, 2n, 3n, 4n, 5n, -1n], 0x7000n);
  const ti = arch.threadInfoFromRegsets(new Map([[NT_PRSTATUS, regs]]));
  const g = ti.gpregs as Record<string, bigint>;
  assert.deepEqual([g.ax, g.di, g.si, g.dx, g.r10, g.r8, g.r9, g.ip, g.sp, g.orig_ax],
    [9n, 1n, 2n, 3n, 4n, 5n, (1n << 64n) - 1n, 0x1000n, 0x7000n, (1n << 64n) - 1n]);
  assert.deepEqual(arch.syscall.instruction, Buffer.from([0x0f, 0x05]));
  regs.writeBigUInt64LE(BigInt.asUintN(64, -14n), 80);
  assert.equal(arch.syscall.result(regs), -14n);
  assert.equal(arch.syscall.ipAfter(0x1000n), 0x1002n);
});

test('CPU feature check: image state this CPU lacks is a clear error naming the feature', () => {
  const host = createX86_64(probeOf({ 0: [0x7, 832], 2: [256, 576] }, 0x7n)); // AVX, no AVX-512
  const xsave = {
    xstate_bv: 0xe7n, ymmh_space: new Array(64).fill(0), opmask_reg: new Array(8).fill(0n),
    zmm_upper: new Array(64).fill(0n), hi16_zmm: new Array(128).fill(0n),
  };
  const ti: ThreadInfo = { fpregs: { xsave } };
  const missing = host.missingCpuFeatures(ti);
  assert.equal(missing.length, 1);
  assert.equal(missing[0]!.message,
    'the image uses AVX-512 (xsave feature bits 5-7) but this CPU does not offer it: restore on a CPU that has it');
  // AVX-512 registers present but in their init state (bits clear) need nothing.
  assert.deepEqual(host.missingCpuFeatures({ fpregs: { xsave: { ...xsave, xstate_bv: 0x7n } } }), []);
  // MPX and PKRU named separately.
  const m2 = host.missingCpuFeatures({ fpregs: { xsave: { xstate_bv: 0x21bn, bndreg_state: new Array(8).fill(0n),
    bndcsr_state: new Array(8).fill(0n), pkru: [0x55555554, 0] } } });
  assert.deepEqual(m2.map((m) => [m.name, m.bits]), [['MPX', [3, 4]], ['protection keys (PKRU)', [9]]]);
});

test('dump refuses state the image format cannot hold (AMX tiles)', () => {
  const arch = createX86_64();
  const l = defaultLayout(0x602e7n);
  const xs = kernelLikeXstate(l, () => Buffer.alloc(512));
  xs.writeBigUInt64LE(0x60003n, 512);
  const m = arch.unsavableState(new Map([[NT_X86_XSTATE, xs]]));
  assert.equal(m.length, 1);
  assert.match(m[0]!.message, /AMX \(xsave feature bits 17, 18\) which CRIU's image format cannot hold/);
});

test('an ia32 thread gets the ia32 Arch: its rt_sigframe holds every register where sigcontext_32 has it', () => {
  const arch = createX86_64();
  const prs = randomBytes(68);
  for (const [i, sel] of [[7, 0x2b], [8, 0x2b], [9, 0], [10, 0x63], [13, 0x23], [16, 0x2b]] as const) prs.writeUInt32LE(sel, i * 4); // selectors
  const fx = Buffer.alloc(512);
  fx.writeUInt16LE(0x37f, 0); // cwd
  fx.writeUInt16LE(0x3, 4); // abridged tag: st0, st1 in use
  fx.writeUInt32LE(0x1f80, 24); // mxcsr
  randomBytes(32).copy(fx, 32); // st0, st1
  const ti = arch.threadInfoFromRegsets(new Map([[NT_PRSTATUS, prs], [NT_PRFPREG, fx]]));
  const ia32 = arch.forThreadInfo(ti);
  assert.equal(ia32.abi, 'ia32');
  assert.equal(arch.forThreadInfo(arch.threadInfoFromRegsets(new Map([[NT_PRSTATUS, randomBytes(216)]]))), arch);
  assert.equal(ia32.taskSyscall.numbers?.rt_sigreturn, 173);
  assert.notEqual(ia32.taskSyscall, ia32.syscall);
  const { frame, frameAddress, sp } = ia32.buildSigframe(ti, { sigmask: 0x1234n, addressOfFrame: 0x10000n });
  assert.equal(sp, frameAddress + 4n);
  const mc = 144 + 20;
  const u32 = (o: number) => frame.readUInt32LE(mc + o);
  const p32 = (i: number) => prs.readUInt32LE(i * 4); // user_regs_struct32: bx cx dx si di bp ax ds es fs gs orig_ax ip cs flags sp ss
  assert.deepEqual([u32(32), u32(40), u32(36), u32(20), u32(16), u32(24), u32(44)], [0, 1, 2, 3, 4, 5, 6].map(p32));
  assert.equal(u32(56), p32(12)); // ip
  assert.equal(u32(28), p32(15)); // sp
  assert.equal(u32(64), p32(14)); // flags
  assert.equal(frame.readUInt16LE(mc + 0), p32(10) & 0xffff); // gs
  assert.equal(frame.readUInt16LE(mc + 60), 0x23); // cs
  assert.equal(frame.readBigUInt64LE(144 + 108), 0x1234n); // uc_sigmask
  // fpstate points at the i387 header; the fxsave area follows it, 64-byte aligned.
  const fpstate = u32(76) - 0x10000;
  assert.equal((fpstate + 112) % 64, 0);
  assert.equal(frame.readUInt32LE(fpstate) & 0xffff, 0x37f);
  assert.equal(frame.readUInt32LE(fpstate + 8) & 0xffff, 0xfff0, 'st0 and st1 valid (00), the rest empty (11)');
  assert.deepEqual(frame.subarray(fpstate + 28, fpstate + 38), fx.subarray(32, 42), 'st0 as 10 bytes');
  assert.deepEqual(frame.subarray(fpstate + 112, fpstate + 112 + 416), fx.subarray(0, 416), 'the fxsave area');
});

test('a dump\'s call ending is syscall, mov $15 (rt_sigreturn) to eax, syscall; an ia32 thread\'s the compat rt_sigreturn (mov $173, int $0x80); none for a shadow-stack thread', () => {
  const arch = createX86_64();
  const ti = arch.threadInfoFromRegsets(new Map([[NT_PRSTATUS, randomBytes(216)]]));
  assert.equal(arch.callThenSigreturn?.(ti)?.toString('hex'), '0f05b80f0000000f05');
  const ia32 = arch.forThreadInfo(arch.threadInfoFromRegsets(new Map([[NT_PRSTATUS, randomBytes(68)]])));
  assert.equal(ia32.callThenSigreturn?.(ti)?.toString('hex'), '0f05b8ad000000cd80');
  // Its parked batch ending: the same loop as its batch runner, then sendto, ppoll, close and that rt_sigreturn.
  const parked = ia32.syscall.batchThenSigreturn!;
  const loop = ia32.syscall.batchCode!;
  assert.equal(parked.subarray(9, 9 + loop.length - 7).toString('hex'), loop.subarray(6, -1).toString('hex'));
  assert.equal(parked.subarray(-7).toString('hex'), 'b8ad000000cd80');
  assert.equal(parked.subarray(0, -7).toString('hex').slice(-20), arch.syscall.batchThenSigreturn!.subarray(0, -7).toString('hex').slice(-20));
  const shstk: ThreadInfo = { ...ti, fpregs: { xsave: { cet: { cet: 1n, ssp: 0x7000n } } } };
  assert.equal(arch.callThenSigreturn?.(shstk), undefined);
});
