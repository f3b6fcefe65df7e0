// A test target under cryo's injector: seized and stopped, an injector attached for the test's calls,
// then everything undone and checked (registers, signal mask), and let go.
import assert from 'node:assert/strict';
import type { Arch } from '../../src/arch/index.js';
import type { SyscallAbi } from '../../src/arch/types.js';
import { Injector, UndoList, getAbiRegs } from '../../src/inject/index.js';
import { ptrace, waitForStop } from '../../src/sys/index.js';
import { readU64, writeU64 } from '../../src/sys/native-endian.js';

/** Seizes `pid` and waits until it is stopped. */
export function seizeStopped(pid: number): void {
  ptrace.seize(pid);
  ptrace.interrupt(pid);
  waitForStop(pid);
}

/** `regs` without the bits a tracer cannot put back (SyscallAbi.untraceable). */
export function settable(abi: SyscallAbi, regs: Buffer): Buffer {
  const out = Buffer.from(regs);
  for (const { offset, mask } of abi.untraceable ?? []) writeU64(out, readU64(out, offset) & ~mask & ((1n << 64n) - 1n), offset);
  return out;
}

/**
 * Runs `body` with an injector attached to stopped `pid` (seizeStopped), then asserts that the undo
 * list ran without a failure and that the task's registers and signal mask are as they were, and
 * detaches.
 */
export function injectAndUndo(pid: number, arch: Arch, body: (inj: Injector, undo: UndoList) => void): void {
  const undo = new UndoList();
  const maskBefore = ptrace.getSigmask(pid);
  let regsBefore: Buffer | undefined;
  try {
    const inj = Injector.attach(pid, arch, undo);
    regsBefore = Buffer.from(inj.savedRegs);
    body(inj, undo);
  } finally {
    assert.deepEqual(undo.run(), [], 'every undo step ran');
  }
  assert.deepEqual(settable(arch.syscall, getAbiRegs(pid, arch)), settable(arch.syscall, regsBefore), 'registers as they were');
  assert.equal(ptrace.getSigmask(pid), maskBefore, 'signal mask as it was');
  ptrace.detach(pid);
}
