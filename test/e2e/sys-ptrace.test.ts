// src/sys against a real process: seize, interrupt, registers, memory, sigmask, pidfd, kcmp, detach.
import assert from 'node:assert/strict';
import { closeSync, fstatSync, readFileSync, readSync } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { hostAbi } from '../helpers/arch-abi.js';
import { programsBinDir } from '../helpers/paths.js';
import {
  KCMP_FILE, KCMP_VM, NT_PRSTATUS, SysError, __WALL, exitCode, exited, getpid, interruptStop, kcmp, kill,
  pidfdGetfd, pidfdOpen, processVmReadv, processVmWritev, ptrace, rawSyscall, readMany, sleepSync, spawn,
  stopped, waitForStop, waitpid,
} from '../../src/sys/index.js';
import { readI32, readU64 } from '../../src/sys/native-endian.js';

const S = constants.signals;
/** NT_PRSTATUS size and IP offset of this architecture (proved against its headers by test/cross). */
const ABI = hostAbi();
const O_NONBLOCK = 0o4000;

/** A non-blocking pipe: [read end, write end]. */
function pipe(): [number, number] {
  const fds = new Int32Array(2);
  rawSyscall('pipe2', fds, O_NONBLOCK);
  return [fds[0], fds[1]];
}

/** Reads from a non-blocking fd until `re` matches the text so far, or throws after timeoutMs. */
function readUntil(fd: number, re: RegExp, state: { text: string }, timeoutMs = 5000): RegExpMatchArray {
  const deadline = Date.now() + timeoutMs;
  const chunk = Buffer.alloc(4096);
  for (;;) {
    const m = state.text.match(re);
    if (m) { state.text = state.text.slice((m.index ?? 0) + m[0].length); return m; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} (got ${JSON.stringify(state.text)})`);
    try {
      const n = readSync(fd, chunk);
      if (n === 0) throw new Error(`pipe closed while waiting for ${re}`);
      state.text += chunk.toString('latin1', 0, n);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      sleepSync(2);
    }
  }
}

let pid = 0;
let rd = -1;
const out = { text: '' };
let buf = 0n;
let counterAddr = 0n;
let targetFd = -1;

before(() => {
  const [r, w] = pipe();
  rd = r;
  pid = spawn({ path: path.join(programsBinDir, 'sys-target'), argv: ['sys-target', String(w)], keepFds: [0, 1, 2, w] });
  closeSync(w);
  const m = readUntil(rd, /ready buf=(0x[0-9a-f]+) counter=(0x[0-9a-f]+) fd=(\d+)\n/, out);
  buf = BigInt(m[1]);
  counterAddr = BigInt(m[2]);
  targetFd = Number(m[3]);
});

after(() => {
  if (pid > 0) {
    try { kill(pid, S.SIGKILL); } catch { /* already gone */ }
    try { waitpid(pid, __WALL); } catch { /* already reaped */ }
  }
  if (rd >= 0) closeSync(rd);
});

/** End address of the mapping that holds `addr` (from /proc/PID/maps), followed by a hole. */
function mappingEnd(p: number, addr: bigint): bigint {
  const vmas = readFileSync(`/proc/${p}/maps`, 'utf8').trim().split('\n').map((l) => {
    const [s, e] = l.split(' ')[0].split('-');
    return { start: BigInt(`0x${s}`), end: BigInt(`0x${e}`) };
  });
  // Walk forward over adjacent mappings to the first gap.
  let i = vmas.findIndex((v) => v.start <= addr && addr < v.end);
  while (i + 1 < vmas.length && vmas[i + 1].start === vmas[i].end) i++;
  return vmas[i].end;
}

/** Whether `addr` lies in a mapping of task `p` with execute permission (where a stopped task's IP must be). */
function inExecutableMapping(p: number, addr: bigint): boolean {
  return readFileSync(`/proc/${p}/maps`, 'utf8').trim().split('\n').some((l) => {
    const [range, perms] = l.split(' ');
    const [s, e] = range.split('-').map((x) => BigInt(`0x${x}`));
    return perms[2] === 'x' && s <= addr && addr < e;
  });
}

function readCounter(): bigint {
  const b = processVmReadv(pid, counterAddr, 8);
  return readU64(b, 0);
}

test('seize, interrupt, registers, memory, sigmask, pidfd, kcmp, detach, then the task runs on', () => {
  ptrace.seize(pid, ptrace.PTRACE_O_TRACESYSGOOD);
  ptrace.interrupt(pid);
  const st = waitForStop(pid, { timeoutMs: 5000 });
  assert.equal(st.pid, pid);
  assert.ok(stopped(st.status) && interruptStop(st.status), `unexpected status 0x${st.status.toString(16)}`);

  // Registers: NT_PRSTATUS is exactly the host's user_regs_struct, with a non-zero IP.
  const regs = ptrace.getRegset(pid, NT_PRSTATUS, 4096);
  assert.equal(regs.length, ABI.prstatusSize);
  const ip = readU64(regs, ABI.ipOffset);
  assert.ok(inExecutableMapping(pid, ip), `IP 0x${ip.toString(16)} is in no executable mapping of the task`);

  // Memory: the pattern is where the program said, whole page readable.
  const page = processVmReadv(pid, buf, 4096);
  assert.equal(page.length, 4096);
  assert.equal(page.subarray(0, 16).toString('latin1'), 'CRYO-SYS-PATTERN');
  for (let i = 16; i < 4096; i++) assert.equal(page[i], (i * 7 + 3) & 0xff, `byte ${i}`);

  // readMany: two ranges packed into one buffer.
  const two = Buffer.alloc(8);
  assert.equal(readMany(pid, [{ addr: buf, length: 4 }, { addr: buf + 9n, length: 4 }], two), 8);
  assert.equal(two.toString('latin1'), 'CRYOPATT');

  // A read running off the end of the mapping returns what was readable; one wholly unmapped fails.
  const vmaEnd = mappingEnd(pid, buf);
  const tail = Buffer.alloc(8192);
  assert.equal(processVmReadv(pid, vmaEnd - 16n, tail), 16);
  assert.throws(() => processVmReadv(pid, vmaEnd + (1n << 40n), 16), (e: unknown) => e instanceof SysError && e.code === 'EFAULT');

  // Write, then read back.
  const patch = Buffer.from('written-by-cryo!');
  assert.equal(processVmWritev(pid, buf, patch), 16);
  assert.deepEqual(processVmReadv(pid, buf, 16), patch);

  // peek/poke agree with process_vm_*.
  const word = ptrace.peekData(pid, buf);
  assert.equal(word, readU64(patch, 0));

  // Signal mask: nothing blocked in the main loop (SIGUSR1/SIGTERM have handlers, not blocks).
  const mask = ptrace.getSigmask(pid);
  assert.equal(mask & (1n << BigInt(S.SIGUSR1 - 1)), 0n);
  ptrace.setSigmask(pid, mask | (1n << BigInt(S.SIGUSR2 - 1)));
  assert.equal(ptrace.getSigmask(pid), mask | (1n << BigInt(S.SIGUSR2 - 1)));
  ptrace.setSigmask(pid, mask);

  // The stop's siginfo: a PTRACE_INTERRUPT stop carries SIGTRAP.
  const si = ptrace.getSiginfo(pid);
  assert.equal(si.length, 128);
  assert.equal(readI32(si, 0), S.SIGTRAP);

  // One instruction step moves the task and reports a SIGTRAP stop.
  const ipBefore = readU64(ptrace.getRegset(pid, NT_PRSTATUS, 4096), ABI.ipOffset);
  ptrace.singleStep(pid);
  const stepped = waitForStop(pid, { timeoutMs: 5000 });
  assert.equal(stepped.status >> 8 & 0xff, S.SIGTRAP);
  const regsAfter = ptrace.getRegset(pid, NT_PRSTATUS, 4096);
  assert.equal(regsAfter.length, regs.length);
  assert.ok(readU64(regsAfter, ABI.ipOffset) !== ipBefore || regsAfter.compare(regs) !== 0, 'single step changed nothing');
  ptrace.setRegset(pid, NT_PRSTATUS, regsAfter); // writing back what we read is accepted

  // Queued signals can be peeked without dequeuing: block SIGWINCH (default: ignore), queue one.
  ptrace.setSigmask(pid, mask | (1n << BigInt(S.SIGWINCH - 1)));
  kill(pid, S.SIGWINCH);
  const queued = ptrace.peekSiginfo(pid, 0, 8, true);
  assert.equal(queued.length, 1);
  assert.equal(readI32(queued[0], 0), S.SIGWINCH);
  assert.equal(ptrace.peekSiginfo(pid, 0, 8, false).length, 0);
  ptrace.setSigmask(pid, mask); // delivered (and ignored) once the task runs again

  // glibc registers an rseq area for every thread (Linux >= 4.18, glibc >= 2.35).
  const rseq = ptrace.getRseqConfiguration(pid);
  assert.notEqual(rseq.rseqAbiPointer, 0n);
  assert.ok(rseq.rseqAbiSize >= 32, `rseq size ${rseq.rseqAbiSize}`);

  // pidfd_getfd: the program's /dev/null descriptor, same file as ours by kcmp.
  const pidfd = pidfdOpen(pid);
  const dup = pidfdGetfd(pidfd, targetFd);
  try {
    const st2 = fstatSync(dup);
    assert.ok(st2.isCharacterDevice());
    assert.equal(kcmp(getpid(), pid, KCMP_FILE, dup, targetFd), 0);
  } finally {
    closeSync(dup);
    closeSync(pidfd);
  }
  assert.equal(kcmp(pid, pid, KCMP_VM), 0);
  assert.notEqual(kcmp(getpid(), pid, KCMP_VM), 0);

  const before = readCounter();
  ptrace.detach(pid);
  // It runs on: the counter moves (however long a loaded machine takes to run it) and it answers SIGUSR1.
  for (const end = Date.now() + 60_000; readCounter() <= before; sleepSync(2)) {
    assert.ok(Date.now() < end, 'counter did not advance after detach');
  }
  kill(pid, S.SIGUSR1);
  readUntil(rd, /usr1 \d+\n/, out);

  // It exits cleanly on SIGTERM and saw our write.
  kill(pid, S.SIGTERM);
  const bye = readUntil(rd, /bye ([0-9a-f]{32})\n/, out);
  assert.equal(Buffer.from(bye[1], 'hex').toString('latin1'), 'written-by-cryo!');
  const end = waitpid(pid, __WALL);
  assert.ok(exited(end.status) && exitCode(end.status) === 0, `status 0x${end.status.toString(16)}`);
  pid = 0;
});

test('seizing a nonexistent PID is ESRCH from ptrace(SEIZE, pid)', () => {
  const nopid = 0x3ffffff0;
  assert.throws(() => ptrace.seize(nopid), (err: unknown) => {
    assert.ok(err instanceof SysError);
    assert.equal(err.code, 'ESRCH');
    assert.equal(err.message, `ESRCH from ptrace(SEIZE, ${nopid})`);
    return true;
  });
});
