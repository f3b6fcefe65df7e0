// The aarch64 register tables: both directions agree, the signal frame puts each value where the
// kernel's structs have it, the syscall ABI and the CPU checks. (test/cross/aarch64-sigframe.test.ts
// proves the frame byte for byte against a C build of the kernel's struct layout.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createAarch64 } from '../../src/arch/aarch64/index.js';
import { missingLine, missingProtBits } from '../../src/restore/preflight-arch.js';
import type { RestoreImages } from '../../src/shared/restore-images.js';
import {
  FP_REGS_SIZE, GP_REGS_SIZE, NT_ARM_PAC_ENABLED_KEYS, NT_ARM_PACA_KEYS, NT_ARM_PACG_KEYS, NT_ARM_TLS, NT_PRFPREG, NT_PRSTATUS,
} from '../../src/arch/aarch64/regs.js';
import { EXTRA_MAGIC, FPSIMD_MAGIC, FRAME_SIZE, RT_SIGFRAME_SIZE, SVE_MAGIC, SVE_SIG_FLAG_SM } from '../../src/arch/aarch64/sigframe.js';
import { NT_ARM_SVE } from '../../src/arch/aarch64/sve.js';
import { NT_ARM_TAGGED_ADDR_CTRL } from '../../src/arch/aarch64/mte.js';
import { NT_ARM_SSVE, NT_ARM_ZA, NT_ARM_ZT, ZA_MAGIC, ZT_MAGIC } from '../../src/arch/aarch64/sme.js';
import { NT_ARM_FPMR, NT_ARM_GCS } from '../../src/arch/aarch64/unsavable.js';
import type { Regsets } from '../../src/arch/types.js';
import type { ImageRecord } from '../../src/arch/regtable.js';

const HWCAP_FP_ASIMD_PACA = 0x3n | (1n << 30n);
const arch = createAarch64({ hwcap: HWCAP_FP_ASIMD_PACA, hwcap2: 0n, pageSize: 4096 });

function regsets(): Regsets {
  const fp = randomBytes(FP_REGS_SIZE);
  fp.fill(0, 520); // __reserved[2]
  return new Map([[NT_PRSTATUS, randomBytes(GP_REGS_SIZE)], [NT_PRFPREG, fp], [NT_ARM_TLS, randomBytes(8)]]);
}
/** With the PAC regsets of a CPU that has pointer authentication. */
function pacRegsets(): Regsets {
  const r = regsets();
  r.set(NT_ARM_PACA_KEYS, randomBytes(64));
  r.set(NT_ARM_PAC_ENABLED_KEYS, Buffer.from('0f00000000000000', 'hex'));
  r.set(NT_ARM_PACG_KEYS, randomBytes(16));
  return r;
}

test('regsets -> image -> regsets is the identity (with and without PAC keys)', () => {
  for (let i = 0; i < 50; i++) {
    const r = i % 2 ? pacRegsets() : regsets();
    const ti = arch.threadInfoFromRegsets(r, { clearTidAddr: 0x1234n });
    assert.equal(ti.clear_tid_addr, 0x1234n);
    const back = arch.regsetsFromThreadInfo(ti);
    assert.equal(back.size, r.size);
    for (const [nt, buf] of r) assert.deepEqual(back.get(nt), buf, `regset 0x${nt.toString(16)}`);
  }
  // The PAC keys in CRIU's pac_keys fields: 128-bit keys as _lo/_hi, the enabled keys beside the address keys.
  const r = pacRegsets();
  const pac = arch.threadInfoFromRegsets(r).pac_keys as ImageRecord;
  const a = pac.pac_address_keys as ImageRecord;
  assert.equal(a.apdbkey_hi, r.get(NT_ARM_PACA_KEYS)!.readBigUInt64LE(56));
  assert.equal(a.apiakey_lo, r.get(NT_ARM_PACA_KEYS)!.readBigUInt64LE(0));
  assert.equal(a.pac_enabled_key, 15n);
  assert.equal((pac.pac_generic_keys as ImageRecord).apgakey_hi, r.get(NT_ARM_PACG_KEYS)!.readBigUInt64LE(8));
  assert.equal(arch.threadInfoFromRegsets(regsets()).pac_keys, undefined);
});

test('image -> regsets -> image is the identity, and each field lands at its kernel offset', () => {
  const ti = {
    clear_tid_addr: 0n, tls: 0x7157n,
    gpregs: { regs: Array.from({ length: 31 }, (_, n) => BigInt(n) * 0x1111n), sp: 0xfffff000n, pc: 0x400abcn, pstate: 0x20001000n },
    fpsimd: { vregs: Array.from({ length: 64 }, (_, n) => BigInt(n) << 40n), fpsr: 0x9f, fpcr: 0xc00000 },
  };
  const r = arch.regsetsFromThreadInfo(ti);
  const gp = r.get(NT_PRSTATUS)!;
  assert.equal(gp.readBigUInt64LE(29 * 8), 29n * 0x1111n);
  assert.equal(gp.readBigUInt64LE(31 * 8), 0xfffff000n);
  assert.equal(gp.readBigUInt64LE(32 * 8), 0x400abcn);
  assert.equal(gp.readBigUInt64LE(33 * 8), 0x20001000n);
  const fp = r.get(NT_PRFPREG)!;
  assert.equal(fp.readBigUInt64LE(5 * 16 + 8), 11n << 40n); // v5's high doubleword
  assert.equal(fp.readUInt32LE(512), 0x9f);
  assert.equal(fp.readUInt32LE(516), 0xc00000);
  assert.equal(r.get(NT_ARM_TLS)!.readBigUInt64LE(0), 0x7157n);
  assert.deepEqual(arch.threadInfoFromRegsets(r), ti);
  assert.deepEqual(arch.threadPointers(ti), { ip: 0x400abcn, sp: 0xfffff000n });
  // A damaged image is refused, naming the field.
  assert.throws(() => arch.regsetsFromThreadInfo({ ...ti, fpsimd: { ...ti.fpsimd, vregs: [1n] } }), /thread_info\.fpsimd\.vregs holds 1 elements, expected 64/);
  assert.throws(() => arch.threadInfoFromRegsets(new Map([[NT_PRSTATUS, Buffer.alloc(GP_REGS_SIZE)]])), /NT_PRFPREG is missing/);
  // A kernel with SME gives 16 bytes of NT_ARM_TLS (tpidr2_el0 after tpidr_el0): tls is the first.
  const r2 = regsets();
  r2.set(NT_ARM_TLS, Buffer.concat([Buffer.from('0807060504030201', 'hex'), randomBytes(8)]));
  assert.equal(arch.threadInfoFromRegsets(r2).tls, 0x0102030405060708n);
});

test('signal frame: siginfo, ucontext (mask, altstack), sigcontext registers, fpsimd record, terminator, frame record', () => {
  const ti = arch.threadInfoFromRegsets(regsets());
  const gp = ti.gpregs as ImageRecord;
  const fpi = ti.fpsimd as ImageRecord;
  const at = 0x7ffff000n - BigInt(FRAME_SIZE) & ~15n;
  const f = arch.buildSigframe(ti, { sigmask: 0x4002n, altstack: { sp: 0x5000n, flags: 1, size: 0x2000n }, addressOfFrame: at });
  assert.equal(f.sp, at);
  assert.equal(f.frame.length, FRAME_SIZE);
  assert.equal(RT_SIGFRAME_SIZE, 128 + 176 + 288 + 4096);
  const b = f.frame;
  const uc = 128, mc = uc + 176;
  assert.ok(b.subarray(0, uc).equals(Buffer.alloc(uc)), 'siginfo is zero');
  assert.equal(b.readBigUInt64LE(uc + 16), 0x5000n);
  assert.equal(b.readUInt32LE(uc + 24), 1);
  assert.equal(b.readBigUInt64LE(uc + 32), 0x2000n);
  assert.equal(b.readBigUInt64LE(uc + 40), 0x4002n);
  const x = gp.regs as bigint[];
  for (let n = 0; n < 31; n++) assert.equal(b.readBigUInt64LE(mc + 8 + n * 8), x[n]);
  assert.equal(b.readBigUInt64LE(mc + 256), gp.sp);
  assert.equal(b.readBigUInt64LE(mc + 264), gp.pc);
  assert.equal(b.readBigUInt64LE(mc + 272), gp.pstate);
  const rec = mc + 288;
  assert.equal(b.readUInt32LE(rec), FPSIMD_MAGIC);
  assert.equal(b.readUInt32LE(rec + 4), 528);
  assert.equal(b.readUInt32LE(rec + 8), fpi.fpsr);
  assert.equal(b.readUInt32LE(rec + 12), fpi.fpcr);
  const v = fpi.vregs as bigint[];
  for (let n = 0; n < 64; n++) assert.equal(b.readBigUInt64LE(rec + 16 + n * 8), v[n]);
  assert.equal(b.readBigUInt64LE(rec + 528), 0n, 'terminator');
  assert.equal(b.readBigUInt64LE(RT_SIGFRAME_SIZE), x[29]);
  assert.equal(b.readBigUInt64LE(RT_SIGFRAME_SIZE + 8), x[30]);
  assert.throws(() => arch.buildSigframe(ti, { sigmask: 0n, addressOfFrame: at + 8n }), /16-byte aligned/);
  assert.deepEqual(arch.notRestoredBySigreturn, ['tls', 'pac_keys']);
  assert.deepEqual(arch.regsetsBeforeSigreturn, [NT_ARM_SVE, NT_ARM_ZA, NT_ARM_TLS, NT_ARM_PACA_KEYS, NT_ARM_PAC_ENABLED_KEYS, NT_ARM_PACG_KEYS, NT_ARM_TAGGED_ADDR_CTRL]);
});

/** NT_ARM_SVE as the kernel gives it at vector length `vl`: live SVE registers, or the FP/SIMD form. */
function sveRegset(vl: number, live: boolean, fp: Buffer): Buffer {
  const vq = vl / 16;
  const regs = 32 * vq * 16 + 16 * vq * 2 + vq * 2;
  const fpsr = Math.ceil((16 + regs) / 16) * 16;
  const size = live ? 16 + Math.ceil((fpsr + 8 - 16) / 16) * 16 : 16 + 528;
  const b = live ? randomBytes(size) : Buffer.alloc(size);
  b.writeUInt32LE(size, 0);
  b.writeUInt32LE(99999, 4);
  b.writeUInt16LE(vl, 8);
  b.writeUInt16LE(256, 10);
  b.writeUInt16LE((live ? 1 : 0) | 2 | 4, 12); // SVE_PT_REGS_SVE, VL_INHERIT, VL_ONEXEC
  b.writeUInt16LE(0, 14);
  if (live) {
    b.fill(0, 16 + regs); // padding and what follows fpcr
    fp.copy(b, fpsr, 512, 520); // fpsr, fpcr as NT_PRFPREG has them
  } else {
    fp.copy(b, 16);
  }
  return b;
}

test('SVE: NT_ARM_SVE to thread_info.sve and back (live registers and the FP/SIMD form), and into the frame as sve_context', () => {
  for (const live of [true, false]) {
    const r = regsets();
    const fp = r.get(NT_PRFPREG)!;
    const sve = sveRegset(32, live, fp);
    r.set(NT_ARM_SVE, sve);
    const ti = arch.threadInfoFromRegsets(r);
    const rec = ti.sve as ImageRecord;
    assert.equal(rec.vl, 32);
    assert.equal(rec.flags, (live ? 1 : 0) | 2, 'VL_ONEXEC is a pending exec\'s, not the task\'s');
    const back = arch.regsetsFromThreadInfo(ti).get(NT_ARM_SVE)!;
    assert.equal(back.length, sve.length);
    assert.equal(back.readUInt32LE(0), sve.length, 'size');
    assert.equal(back.readUInt16LE(8), 32, 'vl');
    assert.equal(back.readUInt16LE(12), (live ? 1 : 0) | 2, 'flags');
    assert.ok(back.subarray(16).equals(sve.subarray(16)), 'registers, fpsr and fpcr as read');

    const f = arch.buildSigframe(ti, { sigmask: 0n, addressOfFrame: 0x10000n });
    const at = 128 + 176 + 288 + 528;
    if (!live) {
      assert.equal(f.frame.readBigUInt64LE(at), 0n, 'no sve_context without live registers: the terminator');
      continue;
    }
    const n = 32 * 2 * 16 + 16 * 2 * 2 + 2 * 2;
    assert.equal(f.frame.readUInt32LE(at), SVE_MAGIC);
    assert.equal(f.frame.readUInt32LE(at + 4), Math.ceil((16 + n) / 16) * 16);
    assert.equal(f.frame.readUInt16LE(at + 8), 32);
    assert.equal(f.frame.readUInt16LE(at + 10), 0, 'not streaming mode');
    assert.ok(f.frame.subarray(at + 16, at + 16 + n).equals(sve.subarray(16, 16 + n)), 'Z, P, FFR');
    assert.equal(f.frame.readBigUInt64LE(at + f.frame.readUInt32LE(at + 4)), 0n, 'terminator');
  }
  // Too long a vector for __reserved: an extra_context points right past its terminator, where the
  // sve_context and a terminator follow beyond __reserved's end; the frame record sits above them.
  const r = regsets();
  const sve256 = sveRegset(256, true, r.get(NT_PRFPREG)!);
  r.set(NT_ARM_SVE, sve256);
  const big = arch.threadInfoFromRegsets(r);
  const fb = arch.buildSigframe(big, { sigmask: 0n, addressOfFrame: 0x10000n }).frame;
  const ex = 128 + 176 + 288 + 528;
  const n256 = 32 * 256 + 16 * 32 + 32;
  const sveSize = Math.ceil((16 + n256) / 16) * 16;
  assert.equal(fb.readUInt32LE(ex), EXTRA_MAGIC);
  assert.equal(fb.readUInt32LE(ex + 4), 32);
  assert.equal(fb.readBigUInt64LE(ex + 8), 0x10000n + BigInt(ex + 48), 'datap: right after the terminator');
  assert.equal(fb.readUInt32LE(ex + 16), sveSize + 16, 'size: the sve_context and its terminator');
  assert.equal(fb.readBigUInt64LE(ex + 32), 0n, 'the terminator in __reserved');
  assert.equal(fb.readUInt32LE(ex + 48), SVE_MAGIC);
  assert.equal(fb.readUInt16LE(ex + 48 + 8), 256);
  assert.ok(fb.subarray(ex + 64, ex + 64 + n256).equals(sve256.subarray(16, 16 + n256)), 'Z, P, FFR past __reserved');
  assert.equal(fb.length, ex + 48 + sveSize + 16 + 16);
  assert.equal(fb.readBigUInt64LE(fb.length - 16), (big.gpregs as ImageRecord & { regs: bigint[] }).regs[29], 'frame record: x29');
  const cut = { ...big, sve: { ...(big.sve as ImageRecord), regs: Buffer.alloc(10) } };
  assert.throws(() => arch.regsetsFromThreadInfo(cut), /thread_info\.sve\.regs has 10 bytes, not the 8736 of vector length 256/);
  assert.throws(() => arch.regsetsFromThreadInfo({ ...big, sve: { vl: 40, flags: 0 } }), /SVE vector length 40 is not a multiple of 16/);
  assert.match(createAarch64({ hwcap: 3n }).missingCpuFeatures(big).map((m) => m.message).join('\n'), /SVE vector length and registers need SVE \(HWCAP_SVE\)/);
  // A CPU whose longest vector is 64 bytes rounds 256 down: refused, naming both lengths.
  const sveCpu = (max: number) => createAarch64({ hwcap: 3n | (1n << 22n), sveVectorLength: (vl) => Math.min(vl, max) });
  assert.deepEqual(sveCpu(256).missingCpuFeatures(big), []);
  assert.deepEqual(sveCpu(64).missingCpuFeatures(big).map((m) => m.message),
    ['the task uses an SVE vector length of 256 bytes, which this CPU lacks (it offers 64 below that): restore it on a CPU with 2048-bit vectors']);
});

test('syscall ABI: svc #0, number in x8, x0..x5, pc and sp; result from x0', () => {
  const regs = Buffer.alloc(GP_REGS_SIZE, 0xee);
  const out = arch.syscall.prepare(regs, 0x1000n, 222, [1n, 2n, 3n, 4n, 5n, -1n], 0x8000n);
  assert.deepEqual([...arch.syscall.instruction], [0x01, 0x00, 0x00, 0xd4]);
  assert.equal(out.readBigUInt64LE(8 * 8), 222n);
  for (let i = 0; i < 5; i++) assert.equal(out.readBigUInt64LE(i * 8), BigInt(i + 1));
  assert.equal(out.readBigUInt64LE(5 * 8), (1n << 64n) - 1n);
  assert.equal(out.readBigUInt64LE(6 * 8), 0xeeeeeeeeeeeeeeeen, 'x6 untouched');
  assert.equal(arch.syscall.ip(out), 0x1000n);
  assert.equal(arch.syscall.sp(out), 0x8000n);
  assert.equal(arch.syscall.result(out), 1n);
  out.writeBigUInt64LE((1n << 64n) - 22n, 0);
  assert.equal(arch.syscall.result(out), -22n);
  assert.equal(arch.syscall.ipAfter(0x1000n), 0x1004n);
  assert.equal(arch.syscall.rtSigreturnNr, 139);
  // The kernel rewound the call before the stop: nothing left to fix at dump.
  const ti = arch.threadInfoFromRegsets(regsets());
  assert.deepEqual(arch.fixSyscallRestart(ti), { action: 'none', threadInfo: ti });
});

test('CPU features: refuses PAC keys or FP/SIMD state on a CPU without them, naming each', () => {
  const ti = { ...arch.threadInfoFromRegsets(regsets()), pac_keys: { pac_address_keys: {} } };
  assert.deepEqual(arch.missingCpuFeatures(ti), []);
  const bare = createAarch64({ hwcap: 0n, hwcap2: 0n });
  const names = bare.missingCpuFeatures(ti).map((m) => m.message);
  assert.equal(names.length, 3);
  assert.match(names[0]!, /FP\/SIMD registers need floating point \(HWCAP_FP\), which this CPU lacks/);
  assert.match(names[2]!, /pointer-authentication keys need address authentication \(PAC\) \(HWCAP_PACA\)/);
  assert.deepEqual(createAarch64({ hwcap: 3n }).missingCpuFeatures(ti).map((m) => m.name), ['address authentication (PAC)']);
});

test('CPU features: the dump records AT_HWCAP/AT_HWCAP2; every feature bit of the dumping CPU this one lacks is named', () => {
  const ti = arch.threadInfoFromRegsets(regsets());
  assert.deepEqual(arch.cryoCpu!(), { hwcap: [HWCAP_FP_ASIMD_PACA, 0n] });
  assert.deepEqual(arch.missingCpuFeatures(ti, undefined, arch.cryoCpu!()), [], 'an image from this CPU restores here');
  // HWCAP_ATOMICS (bit 8), HWCAP2_BTI (bit 17), HWCAP_EVTSTRM (bit 2: a kernel setting, not compared), AT_HWCAP2 bit 63 (unnamed).
  const other = { hwcap: [HWCAP_FP_ASIMD_PACA | (1n << 8n) | (1n << 2n), (1n << 17n) | (1n << 63n)] };
  const m = arch.missingCpuFeatures(ti, undefined, other);
  assert.deepEqual(m.map((x) => x.name), ['the LSE atomics', 'branch target identification (BTI)', 'AT_HWCAP2 bit 63']);
  assert.match(m[0]!.message, /^the task ran on a CPU with the LSE atomics \(HWCAP_ATOMICS\), which this CPU lacks: restore it on a CPU that has it$/);
  assert.match(m[2]!.message, /^the task ran on a CPU with AT_HWCAP2 bit 63, which this CPU lacks/);
  // The error line names the dumping CPU's features in one clause, and the task's own needs after it.
  assert.equal(missingLine(m), 'the task ran on a CPU with the LSE atomics (HWCAP_ATOMICS), branch target identification (BTI) (HWCAP2_BTI) and AT_HWCAP2 bit 63, which this CPU lacks: restore it on a CPU that has them');
  const need = { name: 'SVE', bits: [], message: 'the task\'s SVE vector length and registers need SVE (HWCAP_SVE)' };
  assert.equal(missingLine([m[0]!, need]), `${m[0]!.message}; ${need.message}`);
  // A bit named only by the kernel's header goes by that name.
  assert.match(arch.missingCpuFeatures(ti, undefined, { hwcap: [0n, 1n << 43n] })[0]!.message, /with mops \(HWCAP2_MOPS\), which/);
});

test('kernel ABI: aarch64 moves O_DIRECT and O_DIRECTORY; no red zone; 16-byte frames', () => {
  assert.equal(arch.kernelAbi.openFlags.O_DIRECT, 0o200000);
  assert.equal(arch.kernelAbi.openFlags.O_DIRECTORY, 0o40000);
  assert.equal(arch.redZone, 0);
  assert.equal(arch.sigframeAlign, 16);
  assert.equal(arch.criuMarch, 'AARCH64');
  assert.equal(arch.threadInfoField, 'ti_aarch64');
});

test('SME: NT_ARM_SSVE, NT_ARM_ZA and NT_ARM_ZT to thread_info.sme; the streaming vector length back by NT_ARM_ZA; the rest into the frame', () => {
  const VL = 32;
  const header = (size: number, flags: number) => {
    const b = Buffer.alloc(16);
    b.writeUInt32LE(size, 0);
    b.writeUInt16LE(VL, 8);
    b.writeUInt16LE(flags, 12);
    return b;
  };
  const nRegs = 32 * VL + 17 * (VL / 8);
  const ssveRegs = randomBytes(nRegs), za = randomBytes(VL * VL), zt0 = randomBytes(64);
  // Idle SME: the vector length (and VL_INHERIT) only; streaming registers, ZA and ZT0 are not live.
  const idle = regsets();
  idle.set(NT_ARM_SSVE, header(16 + 528, 0));
  idle.set(NT_ARM_ZA, header(16, 2 | 4));
  idle.set(NT_ARM_ZT, Buffer.alloc(64));
  const ti0 = arch.threadInfoFromRegsets(idle);
  assert.deepEqual(ti0.sme, { vl: VL, flags: 2 }, 'VL_ONEXEC is a pending exec\'s, not the task\'s');
  assert.deepEqual(arch.unsavableState(idle), []);
  assert.ok(arch.regsetsFromThreadInfo(ti0).get(NT_ARM_ZA)!.equals(header(16, 2)), 'NT_ARM_ZA: the header alone');
  assert.ok(!arch.regsetsFromThreadInfo(ti0).has(NT_ARM_SSVE), 'streaming mode comes by the frame, not by ptrace');
  assert.deepEqual(arch.regsetsBeforeSigreturn!.slice(0, 2), [NT_ARM_SVE, NT_ARM_ZA], 'vector lengths before the frame is read');
  const f0 = arch.buildSigframe(ti0, { sigmask: 0n, addressOfFrame: 0x10000n }).frame;
  const at = 128 + 176 + 288 + 528;
  assert.equal(f0.readUInt32LE(at), ZA_MAGIC, 'a header-only za_context: ZA off after rt_sigreturn');
  assert.equal(f0.readUInt32LE(at + 4), 16);
  assert.equal(f0.readUInt16LE(at + 8), VL);
  assert.equal(f0.readBigUInt64LE(at + 16), 0n, 'terminator');

  // Streaming mode with ZA and ZT0 live.
  const live = regsets();
  live.set(NT_ARM_SSVE, Buffer.concat([header(16 + nRegs, 1), ssveRegs, Buffer.alloc(32)]));
  live.set(NT_ARM_ZA, Buffer.concat([header(16 + VL * VL, 0), za]));
  live.set(NT_ARM_ZT, zt0);
  const ti = arch.threadInfoFromRegsets(live);
  const sme = ti.sme as ImageRecord;
  assert.equal(sme.vl, VL);
  assert.ok(Buffer.from(sme.ssve as Uint8Array).equals(ssveRegs), 'streaming Z, P, FFR');
  assert.ok(Buffer.from(sme.za as Uint8Array).equals(za), 'ZA');
  assert.ok(Buffer.from(sme.zt0 as Uint8Array).equals(zt0), 'ZT0');
  const f = arch.buildSigframe(ti, { sigmask: 0n, addressOfFrame: 0x10000n }).frame;
  const sveSize = Math.ceil((16 + nRegs) / 16) * 16;
  assert.equal(f.readUInt32LE(at), SVE_MAGIC);
  assert.equal(f.readUInt32LE(at + 4), sveSize);
  assert.equal(f.readUInt16LE(at + 8), VL);
  assert.equal(f.readUInt16LE(at + 10), SVE_SIG_FLAG_SM, 'streaming mode');
  assert.ok(f.subarray(at + 16, at + 16 + nRegs).equals(ssveRegs));
  const zaAt = at + sveSize;
  assert.equal(f.readUInt32LE(zaAt), ZA_MAGIC);
  assert.equal(f.readUInt32LE(zaAt + 4), 16 + VL * VL);
  assert.ok(f.subarray(zaAt + 16, zaAt + 16 + VL * VL).equals(za));
  const ztAt = zaAt + 16 + VL * VL;
  assert.equal(f.readUInt32LE(ztAt), ZT_MAGIC);
  assert.equal(f.readUInt32LE(ztAt + 4), 80);
  assert.equal(f.readUInt16LE(ztAt + 8), 1, 'nregs');
  assert.ok(f.subarray(ztAt + 16, ztAt + 80).equals(zt0));
  assert.equal(f.readBigUInt64LE(ztAt + 80), 0n, 'terminator');
  assert.equal(f.length, FRAME_SIZE, 'all in __reserved at vector length 32');
  // At 64 bytes ZA alone is 4096: everything after fpsimd_context goes through extra_context.
  const big = { ...ti, sme: { vl: 64, flags: 0, za: randomBytes(64 * 64) } };
  const fb = arch.buildSigframe(big, { sigmask: 0n, addressOfFrame: 0x10000n }).frame;
  assert.equal(fb.readUInt32LE(at), EXTRA_MAGIC);
  assert.equal(fb.readUInt32LE(at + 16), 16 + 64 * 64 + 16, 'size: the za_context and its terminator');
  assert.equal(fb.readUInt32LE(at + 48), ZA_MAGIC);

  // Damaged images are named; SME state needs SME, ZT0 needs SME2.
  assert.throws(() => arch.buildSigframe({ ...ti, sme: { ...sme, za: Buffer.alloc(10) } }, { sigmask: 0n, addressOfFrame: 0x10000n }),
    /thread_info\.sme\.za has 10 bytes, not the 1024 of streaming vector length 32: the image is damaged/);
  assert.throws(() => arch.buildSigframe({ ...ti, sme: { vl: VL, flags: 0, zt0 } }, { sigmask: 0n, addressOfFrame: 0x10000n }), /ZT0 without ZA/);
  const msgs = (hwcap2: bigint) => createAarch64({ hwcap: HWCAP_FP_ASIMD_PACA, hwcap2 }).missingCpuFeatures(ti).map((x) => x.message);
  assert.deepEqual(msgs(0n), [
    'the task\'s SME state (streaming vector length, streaming mode, ZA) need SME (HWCAP2_SME), which this CPU lacks: restore it on a CPU that has it',
    'the task\'s SME2 ZT0 register need SME2 (HWCAP2_SME2), which this CPU lacks: restore it on a CPU that has it',
  ]);
  assert.deepEqual(msgs(1n << 23n).length, 1, 'SME without SME2: ZT0 refused');
  assert.deepEqual(msgs((1n << 23n) | (1n << 37n)), []);

  // TPIDR2_EL0 is saved (cryo-core) when not 0, given back in NT_ARM_TLS's second word, and needs SME.
  const r = regsets();
  r.set(NT_ARM_TLS, Buffer.concat([randomBytes(8), Buffer.from('0100000000000000', 'hex')]));
  const tt = arch.threadInfoFromRegsets(r);
  assert.equal(tt.tpidr2, 1n);
  assert.ok(arch.regsetsFromThreadInfo(tt).get(NT_ARM_TLS)!.equals(r.get(NT_ARM_TLS)!), 'both words back');
  assert.equal(arch.threadInfoFromRegsets(regsets()).tpidr2, undefined, 'an 8-byte NT_ARM_TLS: none');
  assert.match(arch.missingCpuFeatures(tt).map((x) => x.message).join('\n'), /the task's TPIDR2_EL0 need SME \(HWCAP2_SME\), which this CPU lacks/);
});

test('MTE: NT_ARM_TAGGED_ADDR_CTRL to thread_info.tagged_addr_ctrl and back; tag checks need HWCAP2_MTE', () => {
  const r = regsets();
  const ctrl = Buffer.alloc(8);
  const sync = 1n | (1n << 1n) | (0xfffen << 3n);
  ctrl.writeBigUInt64LE(sync);
  r.set(NT_ARM_TAGGED_ADDR_CTRL, ctrl);
  const ti = arch.threadInfoFromRegsets(r);
  assert.equal(ti.tagged_addr_ctrl, sync);
  assert.ok(arch.regsetsFromThreadInfo(ti).get(NT_ARM_TAGGED_ADDR_CTRL)!.equals(ctrl));
  // An image without it (CRIU's, an older cryo's) sets nothing.
  assert.equal(arch.regsetsFromThreadInfo(arch.threadInfoFromRegsets(regsets())).has(NT_ARM_TAGGED_ADDR_CTRL), false);
  const noMte = createAarch64({ hwcap: HWCAP_FP_ASIMD_PACA, hwcap2: 0n });
  const mte = createAarch64({ hwcap: HWCAP_FP_ASIMD_PACA, hwcap2: 1n << 18n });
  assert.equal(noMte.memoryTags?.present, false);
  assert.equal(mte.memoryTags?.present, true);
  assert.deepEqual(mte.missingCpuFeatures(ti), []);
  assert.deepEqual(noMte.missingCpuFeatures(ti).map((m) => m.name), ['memory tagging (MTE)']);
  // Tagged addresses alone (no tag-check mode) need no MTE.
  assert.deepEqual(noMte.missingCpuFeatures({ ...ti, tagged_addr_ctrl: 1n }), []);
});

test('BTI-guarded pages (PROT_BTI in a VMA\'s prot) are refused on a CPU without BTI, once', () => {
  const img = { mm: { vmas: [{ start: 0x1000n, end: 0x2000n, prot: 0x5 }, { start: 0x7000n, end: 0x8000n, prot: 0x15 }] } } as unknown as RestoreImages;
  const HWCAP2_BTI = 1n << 17n;
  assert.deepEqual(missingProtBits(img, createAarch64({ hwcap: 3n, hwcap2: HWCAP2_BTI }), []), [], 'this CPU has BTI');
  const noBti = createAarch64({ hwcap: 3n, hwcap2: 0n });
  const m = missingProtBits(img, noBti, []);
  assert.equal(m.length, 1);
  assert.equal(m[0]!.message, 'the task\'s BTI-guarded pages (at 0x7000) need branch target identification (BTI) (HWCAP2_BTI), which this CPU lacks: restore it on a CPU that has it');
  assert.deepEqual(missingProtBits(img, noBti, m), [], 'not twice when a line names BTI already');
  const plain = { mm: { vmas: [{ start: 0x1000n, end: 0x2000n, prot: 0x5 }] } } as unknown as RestoreImages;
  assert.deepEqual(missingProtBits(plain, noBti, []), [], 'no guarded pages, nothing to refuse');
});

test("a dump's call ending is svc #0, mov x8, #139 (rt_sigreturn), svc #0, little-endian as every A64 instruction", () => {
  assert.equal(arch.callThenSigreturn?.({})?.toString('hex'), '010000d4' + '681180d2' + '010000d4');
});

test('a thread with GCS enabled or a non-zero FPMR is refused at dump, one line each; the regsets are read', () => {
  const nts = arch.regsets.map((r) => r.nt);
  assert.ok(nts.includes(NT_ARM_GCS) && nts.includes(NT_ARM_FPMR), 'dump reads both regsets');
  const gcs = (enabled: bigint) => {
    const b = Buffer.alloc(24);
    b.writeBigUInt64LE(enabled, 0);
    b.writeBigUInt64LE(0xfffff7ff0ff8n, 16);
    return b;
  };
  const r = regsets();
  assert.deepEqual(arch.unsavableState(r), [], 'a kernel without GCS or FPMR: nothing to refuse');
  r.set(NT_ARM_GCS, gcs(0n));
  r.set(NT_ARM_FPMR, Buffer.alloc(8));
  assert.deepEqual(arch.unsavableState(r), [], 'GCS off and FPMR 0: the thread dumps');
  r.set(NT_ARM_GCS, gcs(2n)); // PR_SHADOW_STACK_WRITE alone does not enable the stack
  assert.deepEqual(arch.unsavableState(r), []);
  r.set(NT_ARM_GCS, gcs(1n));
  const [one, ...none] = arch.unsavableState(r);
  assert.deepEqual(none, []);
  assert.match(one!.message, /^the thread has a Guarded Control Stack enabled \(GCSPR_EL0 0xfffff7ff0ff8\): cryo cannot save/);
  assert.ok(!one!.message.includes('\n'));
  r.set(NT_ARM_GCS, gcs(0n));
  r.set(NT_ARM_FPMR, Buffer.from('0100000000000000', 'hex'));
  assert.match(arch.unsavableState(r)[0]!.message, /^the thread's FPMR is 0x1: cryo cannot save the FP8 mode register/);
  // Neither reaches the image: threadInfoFromRegsets ignores them.
  assert.equal(JSON.stringify(Object.keys(arch.threadInfoFromRegsets(r))), JSON.stringify(Object.keys(arch.threadInfoFromRegsets(regsets()))));
});
