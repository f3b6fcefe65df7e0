// The small helpers of src/sys against the real kernel.
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { hostAbi } from '../helpers/arch-abi.js';
import {
  AT_FDCWD, SEEK_END, SEEK_SET, SysError, addressOf, getpid, gettid, hostCpuid, ioctl, lseek, memfdCreate,
  PAGE_IS_PRESENT, nameToHandleAt, openByHandleAt, pagemapScan, pagemapScanAll, personality, prctl, rawSyscall,
} from '../../src/sys/index.js';

test('getpid and gettid of the main JS thread are the process PID', () => {
  assert.equal(getpid(), process.pid);
  assert.equal(gettid(), process.pid);
});

test('memfd_create, lseek and ioctl(FIONREAD) on a pipe', () => {
  const fd = memfdCreate('cryo-test');
  try {
    assert.match(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'), /flags:/);
    writeSync(fd, Buffer.alloc(5000, 1));
    assert.equal(lseek(fd, 0, SEEK_END), 5000n);
    assert.equal(lseek(fd, 10, SEEK_SET), 10n);
  } finally {
    closeSync(fd);
  }
  const fds = new Int32Array(2);
  rawSyscall('pipe2', fds, 0);
  try {
    writeSync(fds[1], 'hello');
    const n = new Int32Array(1);
    ioctl(fds[0], hostAbi().fionread, n); // FIONREAD differs on ppc64
    assert.equal(n[0], 5);
  } finally {
    closeSync(fds[0]);
    closeSync(fds[1]);
  }
});

test('a bad descriptor is EBADF naming the call', () => {
  assert.throws(() => lseek(987654, 0, SEEK_SET), (e: unknown) => e instanceof SysError && e.message === 'EBADF from lseek(987654, 0, 0)');
});

test('personality and prctl answer queries', () => {
  assert.equal(personality() & 0xff, 0); // PER_LINUX
  const PR_GET_DUMPABLE = 3;
  assert.equal(prctl(PR_GET_DUMPABLE), 1n);
});

test('addressOf gives distinct, stable data addresses', () => {
  const a = Buffer.alloc(64);
  assert.equal(addressOf(a), addressOf(a));
  assert.equal(addressOf(a.subarray(8)), addressOf(a) + 8n);
});

test('name_to_handle_at and open_by_handle_at round-trip a file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cryo-sys-'));
  const file = path.join(dir, 'f');
  writeFileSync(file, 'handle me');
  const dirFd = openSync(dir, 'r');
  try {
    const h = nameToHandleAt(AT_FDCWD, file, 0);
    assert.ok(h.bytes.length > 0);
    const fd = openByHandleAt(dirFd, h, 0);
    assert.equal(readFileSync(fd, 'utf8'), 'handle me');
    closeSync(fd);
  } finally {
    closeSync(dirFd);
    rmSync(dir, { recursive: true });
  }
});

test('cpuid and xgetbv exist exactly where the CPU has them', () => {
  const cpu = hostCpuid();
  if (!hostAbi().cpuid) {
    assert.equal(cpu, undefined, `cpuid on ${process.arch}`);
    return;
  }
  assert.ok(cpu, `no cpuid on ${process.arch}`);
  const vendor = /^vendor_id\s*:\s*(\S+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  const r = cpu.cpuid(0);
  const b = Buffer.alloc(12);
  b.writeUInt32LE(r.ebx, 0); b.writeUInt32LE(r.edx, 4); b.writeUInt32LE(r.ecx, 8);
  assert.equal(b.toString('latin1'), vendor);
  assert.equal(cpu.xgetbv(0) & 3n, 3n); // x87 and SSE state are always enabled
});

test('PAGEMAP_SCAN reports a touched page as present', (t) => {
  const buf = Buffer.alloc(1 << 16);
  buf.fill(1);
  const fd = openSync('/proc/self/pagemap', 'r');
  try {
    const start = addressOf(buf) & ~0xfffn;
    let r;
    try {
      r = pagemapScan(fd, { start, end: start + 0x1000n, categoryMask: PAGE_IS_PRESENT, returnMask: PAGE_IS_PRESENT });
    } catch (e) {
      if (e instanceof SysError && (e.code === 'ENOTTY' || e.code === 'EINVAL')) { t.skip(`kernel < 6.7 (${e.message})`); return; }
      throw e;
    }
    assert.equal(r.regions.length, 1);
    assert.equal(r.regions[0].start, start);
    assert.equal(r.regions[0].end, start + 0x1000n);
    assert.equal(r.regions[0].categories, PAGE_IS_PRESENT);
    assert.equal(r.walkEnd, start + 0x1000n);
  } finally {
    closeSync(fd);
  }
});

test('PAGEMAP_SCAN through several calls returns each of 2000 one-page runs once', (t) => {
  const n = 2000; // two calls of 1024 regions: the second ends its walk after an inner pass filled up
  const page = BigInt(readFileSync('/proc/self/smaps', 'utf8').match(/KernelPageSize:\s+(\d+) kB/)![1]!) * 1024n;
  const span = BigInt(2 * n) * page;
  const raw = Buffer.allocUnsafeSlow(Number(span + page)); // malloc's own mmap: untouched pages are not present
  const start = (addressOf(raw) + page - 1n) & ~(page - 1n);
  rawSyscall('madvise', start, span, 15 /* MADV_NOHUGEPAGE: one page touched is one page present */);
  for (let i = 0; i < n; i++) raw[Number(start - addressOf(raw) + BigInt(2 * i) * page)] = 1;
  const fd = openSync('/proc/self/pagemap', 'r');
  try {
    const runs = pagemapScanAll(fd, { start, end: start + span, categoryMask: PAGE_IS_PRESENT, returnMask: PAGE_IS_PRESENT });
    if (!runs) { t.skip('kernel < 6.7'); return; }
    // The kernel's walk_end after such a call is where the inner pass stopped, before runs it returned.
    assert.equal(runs.length, n);
    runs.forEach((r, i) => assert.equal(r.start, start + BigInt(2 * i) * page, `run ${i}`));
  } finally {
    closeSync(fd);
  }
});
