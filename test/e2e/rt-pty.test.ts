// A pty pair held inside the dumped tree comes back: test/programs/rt-pty.c (raw-mode slave with
// special chars, window size, exclusive flag, bytes queued both ways, the controlling terminal of
// a child's session with a grandchild's group in front) is dumped, restored and checks itself on
// SIGTERM. Edited images (a termios flag, the window size) prove the checks notice.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

let d: Dumped | undefined;
after(() => cleanupDumped(d));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
const ICANON = 0o2;
const M2S = 'master-to-slave queued';
const S2M = 'slave-to-master queued';

test('pty pair: dumped as CRIU 4.2 writes it (tty-info, tty-data, TTY files), restored, the task passes', async () => {
  d = await startAndDump('rt-pty');
  const kid = Number(d.target.ready.kid);
  const gc = Number(d.target.ready.gc);
  const index = Number(d.target.ready.tty!.split('/').pop());
  const infos = entries(d.images, 'tty-info.img');
  const master = infos.find((i) => Number(i.id) === index * 2 + 1)!;
  const slave = infos.find((i) => Number(i.id) === index * 2)!;
  assert.ok(master && slave, 'one tty_info per end, ids index*2+1 and index*2');
  for (const i of [master, slave]) {
    assert.equal(i.type, 'PTY');
    assert.equal(Number((i.pty as MessageValue).index), index);
    assert.equal(Number((i.winsize as MessageValue).ws_row), 37);
    assert.equal(Number((i.winsize as MessageValue).ws_col), 101);
    assert.equal(Number((i.termios as MessageValue).c_lflag) & ICANON, 0, 'raw mode');
    assert.equal(Number(((i.termios as MessageValue).c_cc as number[])[0]), 0x07, 'VINTR');
  }
  assert.equal(Number(master.sid), kid, 'the master tells the session it controls');
  assert.equal(Number(master.pgrp), gc, 'and its foreground group');
  assert.equal(slave.exclusive, true);
  const files = entries(d.images, 'files.img').filter((f) => f.type === 'TTY');
  assert.ok(files.length >= 2, 'TTY file entries');
  for (const f of files) {
    const tty = f.tty as MessageValue;
    const reg: MessageValue = entries(d.images, 'files.img').find((x) => x.id === tty.regf_id)!;
    assert.equal((reg.reg as MessageValue).name, Number(tty.tty_info_id) & 1 ? '/dev/ptmx' : `/dev/pts/${index}`);
  }
  const data = entries(d.images, 'tty-data.img');
  const text = (id: number) => Buffer.from(data.find((x) => Number(x.tty_id) === id)!.data as Buffer).toString();
  assert.equal(text(index * 2 + 1), S2M, 'read from the master: what the slave wrote');
  assert.equal(text(index * 2), M2S, 'read from the slave: what the master wrote');
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('pty pair: a changed termios flag or window size in tty-info.img makes the task FAIL', async (t) => {
  assert.ok(d, 'the round trip ran');
  const dumped = d!;
  const editAll = (edit: (i: MessageValue) => void) => (dir: string) => editImage(dir, 'tty-info.img', (e) => e.forEach(edit));
  const lflag = await restoreAndFinish(dumped, editAll((i) => { (i.termios as MessageValue).c_lflag = Number((i.termios as MessageValue).c_lflag) | ICANON; }));
  assert.match(lflag, /^FAIL: termios flags/);
  const ws = await restoreAndFinish(dumped, editAll((i) => { (i.winsize as MessageValue).ws_col = 80; }));
  assert.match(ws, /^FAIL: window 37x80/);
  t.diagnostic(`${lflag} / ${ws}`);
  // The image as dumped still passes after the edited restores.
  assert.equal(await restoreAndFinish(dumped), 'PASS');
});
