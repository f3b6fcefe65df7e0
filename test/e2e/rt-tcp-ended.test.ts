// TCP sockets left in CLOSE when their connection ended, still held by the task
// (test/programs/rt-tcp-states.c, mode 'ended'): restored with --tcp-established as they were, both
// ends named as before, the unread bytes then the end of stream, EPIPE on write, their options, and
// the port held only by the socket that had bound it (connect()'s own port given back). Edited images
// fail (the port fact, the queue, the peer). Without --tcp-established the dump is refused naming the
// socket; with --tcp-close (as CRIU's) the sockets come back closed and unbound, and the program says so.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile, encodeImage } from '../../src/images/index.js';
import { imageFileName } from '../../src/images/names.js';
import type { MessageValue } from '../../src/images/value.js';
import { CRYO_FILES_IMAGE, CRYO_FILES_MAGIC, cryo_file_stat_entry, readCryoFileStats } from '../../src/images/cryo-image.js';
import { readCryoImage, writeCryoImage } from '../../src/images/cryo-framing.js';
import { dump } from '../../src/dump/index.js';
import { editImage } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const TCP_CLOSE = 7;
let d: Dumped | undefined;
after(() => cleanupDumped(d));

const sockets = (dir: string) => decodeImageFile(path.join(dir, 'files.img')).entries.map((e) => e.value).filter((f) => f.type === 'INETSK');
const bySrc = (dir: string, port: number) => sockets(dir).find((f) => Number((f.isk as MessageValue).src_port) === port)!;
const est = { restore: { tcpEstablished: true } };

test('closed sockets of ended connections come back as they were: names, unread bytes, end of stream, options, port held or given back', async () => {
  d = await startAndDump('rt-tcp-states', ['ended'], { tcpEstablished: true });
  const isk = sockets(d.images).map((f) => f.isk as MessageValue);
  assert.equal(isk.length, 4);
  for (const s of isk) {
    assert.equal(Number(s.state), TCP_CLOSE);
    assert.notEqual(Number(s.dst_port), 0, 'the peer is recorded (SO_PEERNAME)');
  }
  const facts = readCryoFileStats(d.images);
  const c1 = bySrc(d.images, Number(d.target.ready.c1port));
  const c2 = bySrc(d.images, Number(d.target.ready.c2port));
  assert.equal(facts.get(Number(c1.id))?.tcpPortReleased, true, "c1's port was given back");
  assert.notEqual(facts.get(Number(c2.id))?.tcpPortReleased, true, 'c2 holds its port');
  const stream = decodeImageFile(path.join(d.images, imageFileName('tcpStream', Number((c1.isk as MessageValue).ino)))).entries[0]!;
  assert.equal(Number(stream.value.inq_len), 6);
  assert.equal(await restoreAndFinish(d, undefined, est), 'PASS');
  // Again from the same images: the first restore left nothing behind on these addresses.
  assert.equal(await restoreAndFinish(d, undefined, est), 'PASS');
});

test('edited images fail: c1 restored holding its port, another unread byte, another peer port', async () => {
  const c1port = Number(d!.target.ready.c1port);
  const c2port = Number(d!.target.ready.c2port);
  const c1id = Number(bySrc(d!.images, c1port).id);
  const noRelease = (dir: string) => {
    const file = path.join(dir, CRYO_FILES_IMAGE);
    const es = readCryoImage(file, CRYO_FILES_MAGIC, cryo_file_stat_entry, 'cryo-files')!;
    writeCryoImage(file, CRYO_FILES_MAGIC, cryo_file_stat_entry, es.filter((v) => Number(v.id) !== c1id));
  };
  assert.match(await restoreAndFinish(d!, noRelease, est), new RegExp(`^FAIL: c1's port ${c1port} is held`));
  assert.match(await restoreAndFinish(d!, (dir) => {
    const file = path.join(dir, imageFileName('tcpStream', Number((bySrc(dir, c1port).isk as MessageValue).ino)));
    const img = decodeImageFile(file);
    (img.entries[0]!.extra as { inq: Buffer }).inq.write('U', 0);
    writeFileSync(file, encodeImage(img));
  }, est), /^FAIL: c1 read 'Unread'/);
  assert.match(await restoreAndFinish(d!, (dir) => editImage(dir, 'files.img', (es) => {
    const s = es.find((f) => f.type === 'INETSK' && Number((f.isk as MessageValue).src_port) === c2port)!.isk as MessageValue;
    s.dst_port = Number(s.dst_port) + 1;
  }), est), /^FAIL: c2: SO_PEERNAME differs/);
});

test('without --tcp-established the dump is refused naming the closed socket, the task runs on unharmed', async () => {
  const t = startTarget('rt-tcp-states', ['ended']);
  try {
    await assert.rejects(dump({ pid: t.pid, dir: path.join(t.dir, 'images') }), (e: Error) => {
      assert.match(e.message, new RegExp(`^the TCP connection 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:\\d+ \\(fd \\d+ of task ${t.pid}\\) is closed \\(its connection ended\\): pass --tcp-established`));
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});

test('--tcp-close (as CRIU): dumped without repair, restored closed and unbound; without it at restore, refused', async () => {
  const x = await startAndDump('rt-tcp-states', ['ended'], { tcpClose: true });
  try {
    const isk = sockets(x.images).map((f) => f.isk as MessageValue);
    for (const s of isk) assert.notEqual(Number(s.dst_port), 0);
    await assert.rejects(restoreAndFinish(x, undefined, est), /has no TCP queues and sequence numbers \(dumped with --tcp-close\? restore it with --tcp-close\)/);
    assert.match(await restoreAndFinish(x, undefined, { restore: { tcpClose: true } }), /^FAIL: c1: getsockname differs/);
  } finally {
    cleanupDumped(x);
  }
});
