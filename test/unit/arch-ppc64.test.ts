// The ppc64 register tables: both directions agree (live and transactional state), the signal
// frame puts each value where the kernel's structs have it, the restart rules and the CPU checks.
// (test/cross/ppc64-sigframe.test.ts proves the frame byte for byte against a C build of the
// kernel's struct layout.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createPpc64 } from '../../src/arch/ppc64/index.js';
import { readU32 } from '../../src/sys/native-endian.js';
import {
  GP_REGS, GP_REGS_SIZE, MSR, NT_PPC_TM_CFPR, NT_PPC_TM_CGPR, NT_PPC_TM_CVMX, NT_PPC_TM_CVSX, NT_PPC_TM_SPR, NT_PPC_VMX,
  NT_PPC_VSX, NT_PRFPREG, NT_PRSTATUS, STATE_REGSETS, TM_SPR_SIZE,
} from '../../src/arch/ppc64/regs.js';
import { SIGCONTEXT, UCONTEXT, vRegsOffset } from '../../src/arch/ppc64/sigframe.js';
import { ERESTART_RESTARTBLOCK, ERESTARTSYS } from '../../src/arch/restart-rules.js';
import type { Regsets, ThreadInfo } from '../../src/arch/types.js';
import type { ImageRecord } from '../../src/arch/regtable.js';
import type { RestoreImages } from '../../src/shared/restore-images.js';
import { checkAddressSpace } from '../../src/restore/preflight.js';

const arch = createPpc64({ hwcap: 0xdc0065c2n, hwcap2: 0xaee00000n, pageSize: 65536 });
const MSR_OFF = 33 * 8;
const TRAP_OFF = 40 * 8;
const CCR_OFF = 38 * 8;

/** A PRSTATUS-like buffer: random where the image holds a value, zero in the slots it does not (softe, dar, dsisr, result, padding). */
function gpBuffer(msr: bigint): Buffer {
  const b = Buffer.alloc(GP_REGS_SIZE);
  for (const r of GP_REGS) randomBytes(8 * (r.count ?? 1)).copy(b, r.offset);
  b.writeBigUInt64LE(msr, MSR_OFF);
  return b;
}

function liveRegsets(msr: bigint): Regsets {
  const m: Regsets = new Map();
  m.set(NT_PRSTATUS, gpBuffer(msr));
  m.set(NT_PRFPREG, randomBytes(33 * 8));
  const vmx = randomBytes(34 * 16);
  vmx.fill(0, 33 * 16 + 4); // vrsave is one word of the last quadword
  m.set(NT_PPC_VMX, vmx);
  m.set(NT_PPC_VSX, randomBytes(32 * 8));
  return m;
}

test('live regsets -> image -> regsets is the identity; the image says which vector state it holds', () => {
  for (let i = 0; i < 50; i++) {
    const msr = (randomBytes(8).readBigUInt64LE() & ~(0x7n << 32n)) | MSR.VEC | MSR.VSX;
    const regsets = liveRegsets(msr);
    const ti = arch.threadInfoFromRegsets(regsets, { clearTidAddr: 0x1234n });
    assert.equal(ti.tmstate, undefined);
    assert.equal(ti.clear_tid_addr, 0x1234n);
    const back = arch.regsetsFromThreadInfo(ti);
    assert.deepEqual([...back.keys()].sort(), [...regsets.keys()].sort());
    for (const [nt, buf] of regsets) assert.deepEqual(back.get(nt), buf, `regset 0x${nt.toString(16)}`);
  }
  // MSR_VEC / MSR_VSX forced in the image where it holds that state (CRIU does the same).
  const regsets = liveRegsets(0x800000000280f033n & ~(MSR.VEC | MSR.VSX));
  const gp = arch.threadInfoFromRegsets(regsets).gpregs as ImageRecord;
  assert.equal((gp.msr as bigint) & (MSR.VEC | MSR.VSX), MSR.VEC | MSR.VSX);
  regsets.delete(NT_PPC_VMX);
  regsets.delete(NT_PPC_VSX);
  const gp2 = arch.threadInfoFromRegsets(regsets).gpregs as ImageRecord;
  assert.equal((gp2.msr as bigint) & (MSR.VEC | MSR.VSX), 0n);
});

test('image -> regsets -> image is the identity, and each field lands at its kernel offset', () => {
  const r64 = () => randomBytes(8).readBigUInt64LE();
  for (let i = 0; i < 50; i++) {
    const gpregs: ImageRecord = Object.fromEntries(GP_REGS.map((r) => [r.name, r.count ? Array.from({ length: r.count }, r64) : r64()]));
    gpregs.msr = (gpregs.msr as bigint) & ~(0x7n << 32n) | MSR.VEC | MSR.VSX;
    const ti: ThreadInfo = {
      clear_tid_addr: r64(),
      gpregs,
      fpstate: { fpregs: Array.from({ length: 33 }, r64) },
      vrstate: { vrregs: Array.from({ length: 66 }, r64), vrsave: randomBytes(4).readUInt32LE() },
      vsxstate: { vsxregs: Array.from({ length: 32 }, r64) },
    };
    const regsets = arch.regsetsFromThreadInfo(ti);
    const prs = regsets.get(NT_PRSTATUS)!;
    assert.equal(prs.readBigUInt64LE(32 * 8), gpregs.nip);
    assert.equal(prs.readBigUInt64LE(8), (gpregs.gpr as bigint[])[1]);
    assert.equal(prs.readBigUInt64LE(CCR_OFF), gpregs.ccr);
    assert.equal(regsets.get(NT_PPC_VMX)!.readUInt32LE(528), (ti.vrstate as ImageRecord).vrsave);
    assert.equal(regsets.get(NT_PRFPREG)!.readBigUInt64LE(32 * 8), ((ti.fpstate as ImageRecord).fpregs as bigint[])[32]);
    const back = arch.threadInfoFromRegsets(regsets, { clearTidAddr: ti.clear_tid_addr as bigint });
    assert.deepEqual(back, ti);
  }
});

function tmRegsets(suspended: boolean): Regsets {
  const liveMsr = 0x800000000280f033n | MSR.TM | (suspended ? MSR.TS_S : MSR.TS_T);
  const m = liveRegsets(liveMsr);
  const ck = liveRegsets(0x800000000280f033n | MSR.VEC | MSR.VSX);
  for (const r of STATE_REGSETS) m.set(r.checkpointed, ck.get(r.live)!);
  m.set(NT_PPC_TM_SPR, randomBytes(TM_SPR_SIZE));
  return m;
}

test('a suspended transaction: the checkpointed state at the top, the live one in tmstate (CRIU\'s layout), and back', () => {
  for (let i = 0; i < 20; i++) {
    const regsets = tmRegsets(true);
    const ti = arch.threadInfoFromRegsets(regsets);
    const tm = ti.tmstate as ImageRecord;
    assert.ok(tm, 'tmstate written');
    assert.equal((ti.gpregs as ImageRecord).nip, regsets.get(NT_PPC_TM_CGPR)!.readBigUInt64LE(32 * 8));
    assert.equal((tm.gpregs as ImageRecord).nip, regsets.get(NT_PRSTATUS)!.readBigUInt64LE(32 * 8));
    const spr = regsets.get(NT_PPC_TM_SPR)!;
    assert.equal((ti.gpregs as ImageRecord).tfhar, spr.readBigUInt64LE(0));
    assert.equal((ti.gpregs as ImageRecord).texasr, spr.readBigUInt64LE(8));
    assert.equal((ti.gpregs as ImageRecord).tfiar, spr.readBigUInt64LE(16));
    const back = arch.regsetsFromThreadInfo(ti);
    assert.deepEqual([...back.keys()].sort(), [...regsets.keys()].sort());
    for (const [nt, buf] of regsets) assert.deepEqual(back.get(nt), buf, `regset 0x${nt.toString(16)}`);
    assert.equal(arch.threadPointers(ti).ip, (tm.gpregs as ImageRecord).nip, 'the live nip is the one the task resumes at');
  }
});

test('a transaction on a kernel without the TM regsets: dump refuses, naming it', () => {
  const regsets = tmRegsets(true);
  for (const nt of [NT_PPC_TM_CGPR, NT_PPC_TM_CFPR, NT_PPC_TM_CVMX, NT_PPC_TM_CVSX, NT_PPC_TM_SPR]) regsets.delete(nt);
  const bad = arch.unsavableState(regsets);
  assert.equal(bad.length, 1);
  assert.match(bad[0]!.message, /suspended transaction .*NT_PPC_TM_CGPR/);
  assert.throws(() => arch.threadInfoFromRegsets(regsets), /suspended transaction/);
  assert.deepEqual(arch.unsavableState(liveRegsets(0x800000000280f033n)), [], 'no transaction: nothing to refuse');
});

test('signal frame: registers, FP, VMX (aligned v_regs), VSX and the MSR bits that make the kernel load them', () => {
  const regsets = liveRegsets(0x800000000000d033n);
  const ti = arch.threadInfoFromRegsets(regsets);
  for (const addr of [0x7fffff000000n, 0x7fffff000010n]) {
    const f = arch.buildSigframe(ti, { sigmask: 0x8000000000000001n, addressOfFrame: addr });
    assert.equal(f.sp, addr, 'rt_sigreturn finds the ucontext at r1');
    assert.equal(f.frame.length, UCONTEXT.size);
    const b = f.frame;
    const mc = UCONTEXT.uc_mcontext;
    assert.equal(b.readBigUInt64LE(UCONTEXT.uc_sigmask), 0x8000000000000001n);
    assert.equal(b.readBigUInt64LE(UCONTEXT.uc_link), 0n);
    const prs = regsets.get(NT_PRSTATUS)!;
    for (let i = 0; i < 32; i++) assert.equal(b.readBigUInt64LE(mc + SIGCONTEXT.gp_regs + i * 8), prs.readBigUInt64LE(i * 8), `gpr${i}`);
    assert.equal(b.readBigUInt64LE(mc + SIGCONTEXT.gp_regs + 32 * 8), prs.readBigUInt64LE(32 * 8), 'nip');
    const msr = b.readBigUInt64LE(mc + SIGCONTEXT.gp_regs + MSR_OFF);
    assert.equal(msr & (MSR.VEC | MSR.VSX), MSR.VEC | MSR.VSX, 'MSR_VEC and MSR_VSX set');
    assert.deepEqual(b.subarray(mc + SIGCONTEXT.fp_regs, mc + SIGCONTEXT.fp_regs + 264), regsets.get(NT_PRFPREG));
    const vregs = b.readBigUInt64LE(mc + SIGCONTEXT.v_regs);
    assert.equal(vregs % 16n, 0n, 'v_regs is quadword aligned');
    const vOff = Number(vregs - addr);
    assert.equal(vOff, vRegsOffset(addr));
    assert.ok(vOff >= mc + SIGCONTEXT.vmx_reserve && vOff < mc + SIGCONTEXT.vmx_reserve + 16);
    assert.deepEqual(b.subarray(vOff, vOff + 33 * 16 + 4), regsets.get(NT_PPC_VMX)!.subarray(0, 33 * 16 + 4));
    assert.deepEqual(b.subarray(vOff + 34 * 16, vOff + 34 * 16 + 256), regsets.get(NT_PPC_VSX));
    assert.ok(vOff + 34 * 16 + 256 <= mc + SIGCONTEXT.size, 'VSX fits in vmx_reserve');
    assert.equal(b.readBigUInt64LE(mc + SIGCONTEXT.regs), addr + BigInt(mc + SIGCONTEXT.gp_regs));
  }
  assert.throws(() => arch.buildSigframe(ti, { sigmask: 0n, addressOfFrame: 0x7fffff000008n }), /16-byte aligned/);
});

test('signal frame of a transaction: uc_link points at the second ucontext holding the live state', () => {
  const regsets = tmRegsets(true);
  const ti = arch.threadInfoFromRegsets(regsets);
  const addr = 0x7fffff000000n;
  const f = arch.buildSigframe(ti, { sigmask: 0n, addressOfFrame: addr });
  const b = f.frame;
  assert.equal(b.length, 2 * UCONTEXT.size);
  assert.equal(b.readBigUInt64LE(UCONTEXT.uc_link), addr + BigInt(UCONTEXT.size));
  const mc = UCONTEXT.uc_mcontext;
  const nipOf = (uc: number) => b.readBigUInt64LE(uc + mc + SIGCONTEXT.gp_regs + 32 * 8);
  assert.equal(nipOf(0), regsets.get(NT_PPC_TM_CGPR)!.readBigUInt64LE(32 * 8), 'checkpointed nip in the first');
  assert.equal(nipOf(UCONTEXT.size), regsets.get(NT_PRSTATUS)!.readBigUInt64LE(32 * 8), 'live nip in uc_transact');
  const msrOf = (uc: number) => b.readBigUInt64LE(uc + mc + SIGCONTEXT.gp_regs + MSR_OFF);
  assert.equal(msrOf(0), msrOf(UCONTEXT.size));
  assert.notEqual(msrOf(0) & MSR.TS_S, 0n, 'the TS bits tell rt_sigreturn to recheckpoint');
  const vOff2 = UCONTEXT.size + vRegsOffset(addr + BigInt(UCONTEXT.size));
  assert.deepEqual(b.subarray(vOff2, vOff2 + 512), regsets.get(NT_PPC_VMX)!.subarray(0, 512), 'live VRs in uc_transact');
});

test('restart rules: sc (positive errno with CR0.SO) and scv (negative errno), as the kernel applies them', () => {
  const mk = (trap: bigint, r3: bigint, so: boolean): ThreadInfo => {
    const b = gpBuffer(0x800000000000d033n);
    b.writeBigUInt64LE(trap, TRAP_OFF);
    b.writeBigUInt64LE(BigInt.asUintN(64, r3), 3 * 8);
    b.writeBigUInt64LE(so ? 0x10000000n : 0x20000000n, CCR_OFF);
    return arch.threadInfoFromRegsets(new Map([[NT_PRSTATUS, b]]));
  };
  const gp = (ti: ThreadInfo) => ti.gpregs as ImageRecord;
  const r3 = (ti: ThreadInfo) => (gp(ti).gpr as bigint[])[3];

  const sc = mk(0xc01n, BigInt(ERESTARTSYS), true);
  const fixed = arch.fixSyscallRestart(sc);
  assert.equal(fixed.action, 'restart');
  assert.equal(r3(fixed.threadInfo), gp(sc).orig_gpr3);
  assert.equal(gp(fixed.threadInfo).nip, (gp(sc).nip as bigint) - 4n);
  assert.equal(gp(fixed.threadInfo).trap, 0n);

  const scvBlock = arch.fixSyscallRestart(mk(0x3000n, -BigInt(ERESTART_RESTARTBLOCK), false));
  assert.equal(scvBlock.action, 'eintr');
  assert.equal(r3(scvBlock.threadInfo), BigInt.asUintN(64, -4n));

  const scBlock = arch.fixSyscallRestart(mk(0xc00n, BigInt(ERESTART_RESTARTBLOCK), true));
  assert.equal(scBlock.action, 'eintr');
  assert.equal(r3(scBlock.threadInfo), 4n);
  assert.notEqual((gp(scBlock.threadInfo).ccr as bigint) & 0x10000000n, 0n);
  // The call ending's frame (a task left running): the call again, r3 its first argument.
  const blocked = mk(0xc00n, BigInt(ERESTART_RESTARTBLOCK), true);
  const runOn = arch.fixSyscallRestart(blocked, 'onRunOn');
  assert.equal(runOn.action, 'restart');
  assert.deepEqual([r3(runOn.threadInfo), gp(runOn.threadInfo).nip], [gp(blocked).orig_gpr3, (gp(blocked).nip as bigint) - 4n]);

  // The call stopped at the return of: r0 its number, r3 its result (sc: positive with SO), orig_gpr3 its first argument.
  const eintr = mk(0xc00n, 4n, true);
  const call = arch.stoppedCall(eintr)!;
  assert.deepEqual([call.nr, call.result, call.args[0]], [Number((gp(eintr).gpr as bigint[])[0]), -4n, gp(eintr).orig_gpr3]);
  assert.deepEqual([r3(call.again()), gp(call.again()).nip, gp(call.again()).trap], [gp(eintr).orig_gpr3, (gp(eintr).nip as bigint) - 4n, 0n]);
  assert.equal(arch.stoppedCall(mk(0x3000n, -4n, false))!.result, -4n, 'scv: a negative errno');
  assert.equal(arch.stoppedCall(mk(0xc10n, 4n, true)), undefined, 'past a delivery or rt_sigreturn (no-restart flag): no call');
  assert.equal(arch.fixSyscallRestart(mk(0xc00n, BigInt(ERESTARTSYS), false)).action, 'none', 'no SO: 512 is a result');
  assert.equal(arch.fixSyscallRestart(mk(0x900n, BigInt(ERESTARTSYS), true)).action, 'none', 'not a syscall trap');
});

test('syscall ABI: r0, r3..r8, nip, trap cleared; results from r3 and CR0.SO', () => {
  const regs = gpBuffer(0x800000000000d033n);
  regs.writeBigUInt64LE(0xc00n, TRAP_OFF);
  const out = arch.syscall.prepare(regs, 0x7fff0000n, 9, [1n, 2n, 3n, 4n, 5n, -1n], 0x7ffe0000n);
  assert.equal(out.readBigUInt64LE(0), 9n);
  for (let i = 0; i < 5; i++) assert.equal(out.readBigUInt64LE((3 + i) * 8), BigInt(i + 1));
  assert.equal(out.readBigUInt64LE(8 * 8), (1n << 64n) - 1n);
  assert.equal(out.readBigUInt64LE(32 * 8), 0x7fff0000n);
  assert.equal(out.readBigUInt64LE(8), 0x7ffe0000n);
  assert.equal(out.readBigUInt64LE(TRAP_OFF), 0n);
  assert.equal(arch.syscall.sp(out), 0x7ffe0000n);
  assert.equal(arch.syscall.ip(out), 0x7fff0000n);
  out.writeBigUInt64LE(14n, 3 * 8);
  out.writeBigUInt64LE(0x10000000n, CCR_OFF);
  assert.equal(arch.syscall.result(out), -14n);
  out.writeBigUInt64LE(0n, CCR_OFF);
  assert.equal(arch.syscall.result(out), 14n);
  assert.deepEqual(arch.syscall.instruction, Buffer.from([0x02, 0x00, 0x00, 0x44]), 'sc, little-endian');
  assert.equal(arch.syscall.ipAfter(0x1000n), 0x1004n);
});

test('CPU features: refuses an image from a CPU with VSX/HTM/ISA 3.1 this one lacks, naming each; byte order from cpuinfo', () => {
  const ti = arch.threadInfoFromRegsets(liveRegsets(0x800000000000d033n));
  const here = arch.cpuinfo!();
  assert.deepEqual(arch.missingCpuFeatures(ti, here), [], 'an image from this CPU restores here');
  assert.equal(arch.imageByteOrder!(here), 'LE');
  const entry = (here.ppc64_entry as ImageRecord[])[0]!;
  const other = { ppc64_entry: [{ ...entry, hwcap: [0xdc0065c2n, 0xaee00000n | 0x40000000n | 0x00040000n] }] };
  const names = arch.missingCpuFeatures(ti, other).map((m) => m.name);
  assert.deepEqual(names, ['hardware transactional memory (HTM)', 'ISA 3.1']);
  assert.match(arch.missingCpuFeatures(ti, other)[0]!.message, /PPC_FEATURE2_HTM/);
  // A CPU without Altivec/VSX cannot take a thread that holds vector registers, even without cpuinfo.img.
  const old = createPpc64({ hwcap: 0xc8000000n, hwcap2: 0n });
  assert.deepEqual(old.missingCpuFeatures(ti).map((m) => m.name), ['Altivec (VMX)', 'VSX']);
  assert.equal(arch.imageByteOrder!({ ppc64_entry: [{ endian: 'BIGENDIAN', hwcap: [] }] }), 'BE');
});

test('kernel ABI: ppc64 numbers its tty ioctls, termios and some socket options its own way', () => {
  const k = arch.kernelAbi;
  assert.equal(k.ioctls.TCGETS, 0x402c7413);
  assert.equal(k.ioctls.FIONREAD, 0x4004667f);
  assert.equal(k.ioctls.TIOCGPTN, 0x40045430);
  assert.equal(k.ioctls.TFD_IOC_SET_TICKS, 0x80085400); // _IOW: write is 4 << 29 here
  assert.equal(k.socketOptions.PASSCRED, 20);
  assert.equal(k.socketOptions.RCVLOWAT, 16);
  assert.equal(k.layouts.termios.line, 35);
  assert.equal(arch.redZone, 512);
  assert.equal(arch.pageSize, 65536);
});

test('address space: 128 TiB for mmap and 4 PiB in all with 64 KiB pages, 64 TiB with 4 KiB; a dump above it is refused', () => {
  const small = createPpc64({ pageSize: 4096 });
  assert.deepEqual([arch.mmapTop, arch.userTop], [1n << 47n, 1n << 52n]);
  assert.deepEqual([small.mmapTop, small.userTop], [1n << 46n, 1n << 46n]);
  // Where Debian's 6.1 kernel (64 KiB pages) put a task's stack: past a 4 KiB-page kernel's 64 TiB.
  const img = { pid: 143, mm: { vmas: [{ start: 0x10fe10000n, end: 0x10fe20000n }, { start: 0x7fffe11d0000n, end: 0x7fffe1200000n }] } } as unknown as RestoreImages;
  assert.doesNotThrow(() => checkAddressSpace(img, arch));
  assert.throws(() => checkAddressSpace(img, small),
    /^RestoreError: process 143 has memory up to 0x7fffe1200000, beyond this kernel's user address space \(it ends at 0x400000000000 with 4096-byte pages\): restore it on a kernel whose address space reaches that far$/);
});

test("a dump's call ending is sc, li r0,172 (rt_sigreturn), sc, in the machine's byte order; none for a thread in a transaction", () => {
  const code = arch.callThenSigreturn?.({ gpregs: {} });
  assert.ok(code);
  assert.deepEqual([0, 4, 8].map((o) => readU32(code, o)), [0x44000002, 0x380000ac, 0x44000002]);
  assert.equal(arch.callThenSigreturn?.({ gpregs: {}, tmstate: { gpregs: {} } }), undefined);
});
