// Slaves of a pty whose master was closed (zdtm's pty04): test/programs/rt-pty-hung.c holds two
// hung-up slaves (one was its controlling terminal) and checks after a round trip that both are
// still hung up, two open files with their own flags, and that it has no controlling terminal.
// Edited images (a master added and held, so a live pair comes back; a flag dropped) make its
// checks fail. Slaves hung up while their master stays open (vhangup) are refused at dump.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile, encodeImage } from '../../src/images/index.js';
import type { ImageEntry } from '../../src/images/image.js';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { dumpTask } from '../helpers/cryo-ops.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

let d: Dumped | undefined;
after(() => cleanupDumped(d));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
const fdinfoName = (dir: string) => readdirSync(dir).find((n) => /^fdinfo-\d+\.img$/.test(n))!;
const fileOf = (dir: string, fd: number) => {
  const id = entries(dir, fdinfoName(dir)).find((f) => Number(f.fd) === fd)!.id;
  return entries(dir, 'files.img').find((f) => f.id === id)!;
};
const O_NONBLOCK = 0o4000;

test('hung-up slaves: dumped without termios (as CRIU), restored hung up, the task passes', async () => {
  d = await startAndDump('rt-pty-hung');
  const s1 = fileOf(d.images, Number(d.target.ready.s1));
  assert.equal(s1.type, 'TTY');
  const infoId = Number((s1.tty as MessageValue).tty_info_id);
  const infos = entries(d.images, 'tty-info.img');
  const info = infos.find((i) => Number(i.id) === infoId)!;
  assert.equal(infoId & 1, 0, 'a slave');
  assert.equal(info.termios, undefined, 'a hung-up end has no termios');
  assert.equal(Number(info.sid), 0, 'the hangup took the session its terminal');
  assert.ok(!infos.some((i) => Number(i.id) === infoId + 1), 'no master');
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited images: a master added and held (a live pair), O_NONBLOCK dropped: the task notices', async () => {
  const live = await restoreAndFinish(d!, (dir) => {
    const file = path.join(dir, 'tty-info.img');
    const img = decodeImageFile(file);
    const s = img.entries.map((e) => e.value).find((i) => (Number(i.id) & 1) === 0)!;
    s.termios = { c_iflag: 0x500, c_oflag: 5, c_cflag: 0xbf, c_lflag: 0x8a3b, c_line: 0, c_ispeed: 15, c_ospeed: 15, c_cc: Array(19).fill(0) };
    (img.entries as ImageEntry[]).push({ def: img.entries[0]!.def, value: { id: Number(s.id) + 1, type: 'PTY', locked: false, exclusive: false, packet_mode: false, sid: 0, pgrp: 0, rdev: (5 << 8) | 2, pty: { index: (s.pty as MessageValue).index } } });
    writeFileSync(file, encodeImage(img));
    // s2 becomes that master, held by the task: the pair stays live.
    const id = fileOf(dir, Number(d!.target.ready.s2)).id;
    editImage(dir, 'files.img', (es) => { (es.find((f) => f.id === id)!.tty as MessageValue).tty_info_id = Number(s.id) + 1; });
  });
  assert.match(live, /^FAIL: s1 is not hung up: TCGETS works/);
  const s2 = Number(d!.target.ready.s2);
  const flags = await restoreAndFinish(d!, (dir) => {
    const id = fileOf(dir, s2).id;
    editImage(dir, 'files.img', (es) => {
      const t = es.find((f) => f.id === id)!.tty as MessageValue;
      t.flags = Number(t.flags) & ~O_NONBLOCK;
    });
  });
  assert.match(flags, /^FAIL: s2 lost O_NONBLOCK/);
});

test('slaves hung up while their master stays open are refused at dump in one line; the task runs on unharmed', async () => {
  const t = startTarget('rt-pty-hung', ['vhangup']);
  try {
    await assert.rejects(dumpTask({ pid: t.pid, dir: path.join(t.dir, 'images') }),
      new RegExp(`fd ${t.ready.s1} of process ${t.pid} is /dev/pts/\\d+, hung up while its master \\(fd ${t.ready.m} of process ${t.pid}\\) is open: cryo cannot dump that yet`));
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});
