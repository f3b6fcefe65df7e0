// Every refusal is one clear line and leaves nothing behind: no process with
// the dumped PID, no stopped or zombie child.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, chownSync, copyFileSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { restore, RestoreError, loadImages, preflight } from '../../src/restore/index.js';
import { createX86_64 } from '../../src/arch/x86_64/index.js';
import { hostCpuid, spawn, waitpid, kill } from '../../src/sys/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { becomeSubreaper, copyImages, editImage, nothingLeftBehind, prepareSingleFixture } from '../helpers/restore-env.js';
import { onlyOn } from '../helpers/arch-only.js';
import { fixtureCpuSkip } from '../helpers/cpu.js';

const skip = onlyOn(['x64'], 'fixtures dumped on x86_64');

const PID = 18187;
// Refusals found after preflight's CPU check need a CPU that can hold the fixture's registers.
const singleSkip = skip || fixtureCpuSkip('single');
becomeSubreaper();

async function refused(dir: string, code: string, message: RegExp, after = () => {}): Promise<void> {
  await assert.rejects(restore({ dir }), (e: unknown) => {
    assert.ok(e instanceof RestoreError, `not a RestoreError: ${e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
  after();
  assert.equal(nothingLeftBehind(PID), undefined);
}

function withCopy(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    prepareSingleFixture();
    const dir = copyImages('single');
    try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
}

const setFileName = (dir: string, id: number, name: string) => editImage(dir, 'files.img', (entries) => {
  const f = entries.find((e) => e.id === id)!;
  (f.reg as MessageValue).name = name;
});

test('PID taken: names the process that holds it', { skip: singleSkip }, withCopy(async (dir) => {
  const holder = spawn({ path: '/bin/sleep', argv: ['sleep', '30'], setTid: [PID] });
  let reaped = false;
  const stopHolder = () => {
    assert.equal(readFileSync(`/proc/${PID}/comm`, 'utf8').trim(), 'sleep', 'the holder still runs, untouched');
    kill(holder, 9);
    waitpid(holder);
    reaped = true;
  };
  try {
    await refused(dir, 'PID_TAKEN', /^PID 18187 is taken by 'sleep' \(pid 18187\)/, stopHolder);
  } finally {
    if (!reaped) { kill(holder, 9); waitpid(holder); }
  }
}));

test('a file a descriptor needs is missing', { skip: singleSkip }, withCopy(async (dir) => {
  setFileName(dir, 3, path.join(dir, 'no-such.log'));
  await refused(dir, 'FILE_MISSING', /no-such\.log \(fd 3\) cannot be found/);
}));

test('a mapped file changed its size', { skip: singleSkip }, withCopy(async (dir) => {
  const exe = path.join(dir, 'single-exe');
  copyFileSync('/tmp/cryo-fixtures/bin/single', exe);
  appendFileSync(exe, 'x');
  setFileName(dir, 1, exe);
  await refused(dir, 'FILE_CHANGED', /single-exe \(the executable\) has 777009 bytes, it had 777008 at dump time/);
}));

test('a corrupt core image: the file and the byte offset', { skip }, withCopy(async (dir) => {
  const core = path.join(dir, `core-${PID}.img`);
  const b = readFileSync(core);
  b.fill(0xff, 12, 40);
  writeFileSync(core, b);
  await refused(dir, 'IMAGE_CORRUPT', new RegExp(`core-${PID}\\.img: at byte \\d+`));
}));

test('a missing image file', { skip }, withCopy(async (dir) => {
  rmSync(path.join(dir, `mm-${PID}.img`));
  await refused(dir, 'IMAGE_MISSING', /mm-18187\.img is missing/);
}));

test('an image directory others can write: refused before any image is read, naming it', { skip }, withCopy(async (dir) => {
  // core is corrupt too: the ownership check must come first, so the refusal is UNSAFE, not IMAGE_CORRUPT.
  const core = path.join(dir, `core-${PID}.img`);
  writeFileSync(core, readFileSync(core).fill(0xff, 12, 40));
  chmodSync(dir, 0o770);
  await refused(dir, 'UNSAFE', new RegExp(`the image directory ${dir} is writable by its group .*chmod go-w`));
  chmodSync(dir, 0o700);
  await refused(dir, 'IMAGE_CORRUPT', /at byte/);
}));

test('an image every user can write, or one another non-root user owns: refused, naming it', { skip }, withCopy(async (dir) => {
  const mm = path.join(dir, `mm-${PID}.img`);
  chmodSync(mm, 0o666);
  await refused(dir, 'UNSAFE', new RegExp(`the image ${mm} is writable by every user \\(mode 0666\\)`));
  chmodSync(mm, 0o600);
  chownSync(mm, 65534, 65534);
  await refused(dir, 'UNSAFE', new RegExp(`the image ${mm} is owned by uid 65534, not by root or you`));
}));

test('a pages file shorter than its pagemap says', { skip: singleSkip }, withCopy(async (dir) => {
  const pages = path.join(dir, 'pages-1.img');
  writeFileSync(pages, readFileSync(pages).subarray(0, 4096 * 3));
  await refused(dir, 'IMAGE_CORRUPT', /pages-1\.img: at byte 12288/);
}));

test('saved CPU state this CPU cannot hold (AVX-512 on a CPU with only AVX)', { skip }, withCopy(async (dir) => {
  // Mark zmm/opmask state as in use in the image, and check against an x86_64 bound to a CPU
  // whose XCR0 lacks AVX-512 (this machine has it, so the "other CPU" is this one with XCR0 cut).
  editImage(dir, `core-${PID}.img`, ([core]) => {
    const xsave = ((core!.thread_info as MessageValue).fpregs as MessageValue).xsave as MessageValue;
    xsave.xstate_bv = 0xe7n;
  });
  const c = hostCpuid();
  assert.ok(c, 'cpuid is available on x86_64');
  const lesser = createX86_64({ cpuid: (l, s) => c.cpuid(l, s), xgetbv: () => 0x7n });
  assert.throws(() => preflight(loadImages(dir), lesser), (e: unknown) => {
    assert.ok(e instanceof RestoreError);
    assert.equal(e.code, 'CPU_FEATURE');
    assert.match(e.message, /AVX-512.*this CPU does not offer it/);
    return true;
  });
  assert.equal(nothingLeftBehind(PID), undefined);
}));

test('saved CPU state this CPU cannot hold in a thread other than the first: refused too', { skip }, async () => {
  const dir = copyImages('threads');
  try {
    // The fixture's threads all used AVX-512 (xstate_bv 0xa2): only the last one keeps it here.
    const cores = readdirSync(dir).filter((f) => /^core-\d+\.img$/.test(f)).sort();
    assert.equal(cores.length, 3);
    cores.forEach((f, i) => editImage(dir, f, ([core]) => {
      ((((core!.thread_info as MessageValue).fpregs as MessageValue).xsave as MessageValue).xstate_bv) = i === 2 ? 0xe7n : 0x7n;
    }));
    const c = hostCpuid()!;
    const lesser = createX86_64({ cpuid: (l, s) => c.cpuid(l, s), xgetbv: () => 0x7n });
    assert.throws(() => preflight(loadImages(dir), lesser), (e: unknown) => {
      assert.ok(e instanceof RestoreError);
      assert.equal(e.code, 'CPU_FEATURE', e.message);
      assert.match(e.message, /AVX-512.*this CPU does not offer it/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const phase of ['stub', 'memory', 'files', 'task-state', 'resume']) {
  test(`a failure after the point of no return (${phase}) kills and reaps the half-restored task`, { skip: singleSkip }, withCopy(async (dir) => {
    process.env.CRYO_FAULT = `restore:${phase}`;
    try {
      await refused(dir, 'FAILED', new RegExp(`fault injected at restore step '${phase}' \\(CRYO_FAULT=restore:${phase}\\).*was killed`));
    } finally {
      delete process.env.CRYO_FAULT;
    }
  }));
}

test('images of the other byte order: refused before anything starts, naming it', { skip }, withCopy(async (dir) => {
  // The framing (magics, entry sizes) of core-PID.img as a big-endian machine writes it.
  const file = path.join(dir, `core-${PID}.img`);
  const b = readFileSync(file);
  const swap = (at: number) => b.writeUInt32BE(b.readUInt32LE(at), at);
  swap(0);
  swap(4);
  for (let at = 8; at < b.length; at += 4 + b.readUInt32BE(at)) swap(at);
  writeFileSync(file, b);
  await refused(dir, 'ARCH_MISMATCH', new RegExp(`^core-${PID}\\.img was written on a big-endian machine and this one \\(x86_64\\) is little-endian`));
}));

test('an aborted restore starts nothing', { skip }, withCopy(async (dir) => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(restore({ dir, signal: ac.signal }), (e: unknown) => e instanceof RestoreError && e.code === 'ABORTED');
  assert.equal(nothingLeftBehind(PID), undefined);
}));
