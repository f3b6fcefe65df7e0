// cryo's aarch64 signal frame, byte for byte against the kernel's layout: test/cross/aarch64-sigframe-ref.c
// fills the uapi/glibc structs (rt_sigframe = siginfo + ucontext with its sigcontext, the
// fpsimd_context record and terminator in __reserved, the frame record above) the way signal
// delivery does, from the same regsets cryo dumps; cryo's frame built from those regsets' image
// must be the same bytes. Runs natively on arm64, elsewhere cross-compiled (gcc-aarch64-linux-gnu)
// under qemu-user (qemu-aarch64); skipped, saying what to install, when neither is there. SME's
// za_context and zt_context (SME2's ZT0, which no QEMU guest can run yet) need uapi headers of 6.3
// or later: bookworm's cross headers are 6.1's, so .ci/run unpacks bookworm-backports'
// linux-libc-dev (every architecture's uapi headers) into /var/cache/cryo-uapi, used before them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createAarch64 } from '../../src/arch/aarch64/index.js';
import { FP_REGS_SIZE, GP_REGS_SIZE, NT_ARM_TLS, NT_PRFPREG, NT_PRSTATUS } from '../../src/arch/aarch64/regs.js';
import { repoRoot } from '../helpers/paths.js';
import { toolSkip } from '../helpers/required-tool.js';

const SRC = path.join(repoRoot, 'test', 'cross', 'aarch64-sigframe-ref.c');
const native = process.arch === 'arm64';
/** Newer uapi headers (a linux-libc-dev unpacked there), searched before the compiler's own. */
const UAPI = path.join(process.env.CRYO_UAPI_HEADERS ?? '/var/cache/cryo-uapi', 'usr', 'include');
const uapiFlags = existsSync(path.join(UAPI, 'aarch64-linux-gnu', 'asm', 'sigcontext.h')) ? ['-isystem', path.join(UAPI, 'aarch64-linux-gnu'), '-isystem', UAPI] : [];
/** The asm/sigcontext.h the reference is built with has SME2's zt_context. */
const headersHaveZt = (() => {
  const h = uapiFlags.length ? path.join(UAPI, 'aarch64-linux-gnu', 'asm', 'sigcontext.h')
    : native ? '/usr/include/aarch64-linux-gnu/asm/sigcontext.h' : '/usr/aarch64-linux-gnu/include/asm/sigcontext.h';
  try { return /\bZT_MAGIC\b/.test(readFileSync(h, 'utf8')); } catch { return false; }
})();

function has(cmd: string, args: string[]): boolean {
  try { execFileSync(cmd, args, { stdio: 'ignore' }); return true; } catch { return false; }
}

/** How to build and run the reference here, or why not. */
function reference(): { run: (input: Buffer) => Buffer } | string {
  const cc = native ? 'cc' : 'aarch64-linux-gnu-gcc';
  if (!has(cc, ['--version'])) return `no ${cc} (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)`;
  if (!native && !has('qemu-aarch64', ['--version'])) return 'no qemu-aarch64 (apt-get install qemu-user)';
  const bin = path.join(mkdtempSync(path.join(tmpdir(), 'cryo-aarch64-frame-')), 'ref');
  execFileSync(cc, ['-O2', '-Wall', '-Werror', '-static', ...uapiFlags, '-o', bin, SRC], { stdio: ['ignore', 'inherit', 'inherit'] });
  return { run: (input) => (native ? execFileSync(bin, { input }) : execFileSync('qemu-aarch64', [bin], { input })) };
}

const ref = reference();
const skip = typeof ref === 'string' ? ref : false;
const arch = createAarch64({ hwcap: 3n, hwcap2: 0n });
const u64 = (v: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); return b; };

test('aarch64 signal frame equals the kernel\'s layout byte for byte', { skip }, () => {
  const run = (ref as Exclude<typeof ref, string>).run;
  for (let i = 0; i < 8; i++) {
    const base = 0xffffee000000n + BigInt(i) * 0x10n * 37n;
    const sigmask = randomBytes(8).readBigUInt64LE();
    const alt = i % 2 ? { sp: 0x7000_0000n + BigInt(i) * 0x1000n, flags: 1, size: 0x4000n } : { sp: 0n, flags: 2, size: 0n };
    const gp = randomBytes(GP_REGS_SIZE);
    const fp = randomBytes(FP_REGS_SIZE);
    fp.fill(0, 520);
    const ti = arch.threadInfoFromRegsets(new Map([[NT_PRSTATUS, gp], [NT_PRFPREG, fp], [NT_ARM_TLS, randomBytes(8)]]));
    const frame = arch.buildSigframe(ti, { sigmask, altstack: alt, addressOfFrame: base }).frame;
    const input = () => Buffer.concat([u64(base), u64(sigmask), u64(alt.sp), u64(BigInt(alt.flags)), u64(alt.size), gp, fp, Buffer.alloc(32)]);
    const want = run(input());
    assert.equal(frame.length, want.length, 'frame size');
    const diff = [...frame].findIndex((b, k) => b !== want[k]);
    assert.equal(diff, -1, `first differing byte at frame offset ${diff}`);
    // The comparison can fail: the reference follows its input (one register changed -> other bytes).
    fp[7 * 16 + 3] ^= 0xff;
    assert.notDeepEqual(run(input()), frame);
  }
});

const ztSkip = skip || toolSkip('aarch64 uapi headers with SME2\'s zt_context (6.3 or later)', headersHaveZt,
  'apt-get download linux-libc-dev/bookworm-backports, then dpkg -x it into /var/cache/cryo-uapi');

test('aarch64 signal frame with SME\'s za_context and SME2\'s zt_context equals the kernel\'s layout byte for byte', { skip: ztSkip }, () => {
  const run = (ref as Exclude<typeof ref, string>).run;
  const gp = randomBytes(GP_REGS_SIZE);
  const fp = randomBytes(FP_REGS_SIZE);
  fp.fill(0, 520);
  const base = arch.threadInfoFromRegsets(new Map([[NT_PRSTATUS, gp], [NT_PRFPREG, fp], [NT_ARM_TLS, randomBytes(8)]]));
  // ZA off (its header alone), ZA on at two streaming vector lengths, and ZA with ZT0.
  for (const { vl, za, zt } of [{ vl: 16, za: false, zt: false }, { vl: 16, za: true, zt: false }, { vl: 32, za: true, zt: false }, { vl: 32, za: true, zt: true }]) {
    const sme = { vl, flags: 0, ...(za ? { za: randomBytes(vl * vl) } : {}), ...(zt ? { zt0: randomBytes(64) } : {}) };
    const frame = arch.buildSigframe({ ...base, sme }, { sigmask: 5n, addressOfFrame: 0xffffee000000n }).frame;
    const input = () => Buffer.concat([u64(0xffffee000000n), u64(5n), u64(0n), u64(2n), u64(0n), gp, fp,
      u64(1n), u64(BigInt(vl)), u64(za ? 1n : 0n), u64(zt ? 1n : 0n), sme.za ?? Buffer.alloc(0), sme.zt0 ?? Buffer.alloc(0)]);
    const want = run(input());
    const what = `vl ${vl}, ZA ${za ? 'on' : 'off'}${zt ? ', ZT0' : ''}`;
    assert.equal(frame.length, want.length, `frame size (${what})`);
    const diff = [...frame].findIndex((b, k) => b !== want[k]);
    assert.equal(diff, -1, `first differing byte at frame offset ${diff} (${what})`);
    // The comparison can fail: one byte of ZT0 (or of ZA) changed in the reference's input.
    if (za) {
      (sme.zt0 ?? sme.za!)[3] ^= 0xff;
      assert.notDeepEqual(run(input()), frame, `a changed register byte shows (${what})`);
    }
  }
});
