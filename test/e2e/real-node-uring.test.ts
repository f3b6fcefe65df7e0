// A real program on io_uring: the machine's node with UV_USE_IO_URING=1 does file write/read
// round trips through libuv's rings (an SQPOLL ring per event loop for file operations, a plain
// one for epoll changes: test/programs/real/uring-files.mjs). It is dumped (again while a request
// is in flight: cryo refuses, the program runs on), restored, goes on with its round trips, and
// passes its own byte checks. The restored rings' fdinfo shows the dumped indexes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { DumpError } from '../../src/dump/index.js';
import { restore } from '../../src/restore/index.js';
import { readCryoIoUring } from '../../src/images/cryo-io-uring.js';
import { decodeImageFile } from '../../src/images/index.js';
import { readIoUringFdinfo } from '../../src/proc/index.js';
import { dumpReal, startReal, waitReady, waitUntil, type RealProgram } from '../helpers/real-program.js';

const script = path.join(repoRoot, 'test', 'programs', 'real', 'uring-files.mjs');
const progs: RealProgram[] = [];
after(() => progs.forEach((p) => p.cleanup()));

const ringFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).map(Number).filter((fd) => {
  try { return readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:[io_uring]'; } catch { return false; }
});
const rounds = (p: RealProgram) => { try { return Number(readFileSync(path.join(p.dir, 'rounds.txt'), 'utf8')); } catch { return 0; } };

test('node with UV_USE_IO_URING=1 doing file I/O round trips is dumped and restored and goes on', { timeout: 120_000 }, async () => {
  const p = startReal('node-uring', [process.execPath, script, 'out.txt'], { UV_USE_IO_URING: '1' });
  progs.push(p);
  await waitReady(p, 'the node program', 20_000);
  assert.ok(ringFds(p.pid).length >= 2, `node ${process.version} uses io_uring with UV_USE_IO_URING=1 (rings: ${ringFds(p.pid).length})`);
  // The program always has file requests coming: a dump that meets one in flight is refused
  // (the program runs on) and is tried again, as the README says to.
  let images: string | undefined;
  let busy = 0;
  for (let i = 0; i < 30 && !images; i++) {
    try {
      images = await dumpReal(p);
    } catch (e) {
      if (!(e instanceof DumpError && e.code === 'BUSY')) throw e;
      assert.match(e.message, /^the io_uring instance at fd \d+ of task \d+ (has|changed)/);
      busy++;
    }
  }
  assert.ok(images, `dumped within 30 tries (${busy} refused as busy)`);
  console.log(`# dumped after ${busy} refusal(s) for requests in flight`);
  const before = rounds(p);
  const rings = [...readCryoIoUring(images).values()];
  assert.ok(rings.some((r) => r.flags & 2) && rings.some((r) => !(r.flags & 2)), 'an SQPOLL ring and a plain one');
  assert.ok(rings.some((r) => r.sqHead > 200), `the file ring had run hundreds of requests: ${rings.map((r) => r.sqHead).join(', ')}`);
  const r = await restore({ dir: images, detach: true });
  assert.equal(r.pid, p.pid);
  // The kernel's own view of each restored ring goes on from the dumped indexes, not from 0 (the
  // program runs meanwhile: a few more requests at most).
  const fdinfo = decodeImageFile(path.join(images, readdirSync(images).find((n) => /^fdinfo-\d+\.img$/.test(n))!)).entries.map((e) => e.value);
  const fds = ringFds(p.pid);
  assert.equal(fds.length, rings.length);
  for (const fd of fds) {
    const k = readIoUringFdinfo(p.pid, fd);
    const ring = rings.find((x) => x.id === Number(fdinfo.find((f) => Number(f.fd) === fd)!.id))!;
    assert.ok(((k.sqHead - ring.sqHead) >>> 0) < 100_000, `fd ${fd}: SqHead ${k.sqHead} goes on from the dumped ${ring.sqHead}`);
    assert.ok(((k.cqTail - ring.cqTail) >>> 0) < 100_000, `fd ${fd}: CqTail ${k.cqTail} goes on from the dumped ${ring.cqTail}`);
  }
  await waitUntil('the restored program to go on with its round trips', 20_000, () => (rounds(p) >= before + 300 ? true : undefined));
  p.stop();
  const out = readFileSync(path.join(p.dir, 'out.txt'), 'utf8');
  assert.match(out, /\nPASS rounds=\d+\n$/);
});
