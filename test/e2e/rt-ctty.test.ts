// /dev/tty descriptors, in a session whose controlling terminal is a pty whose master another
// process of the tree holds (a terminal multiplexer's server and the shell in its pane):
// test/programs/rt-ctty.c. The child's two /dev/tty descriptors (one non-blocking) are dumped as
// CRIU's CTTY terminals; after restore they reach the pty again: a write through one comes out of
// the master, bytes typed on the master are read through the other, and both name the child's
// session and foreground group. An edited image (the descriptor's flags) fails the check.

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
const O_NONBLOCK = 0o4000;

test('/dev/tty of a session on a pty held in the tree: dumped as CTTY terminals, works after restore', async () => {
  d = await startAndDump('rt-ctty');
  const infos = entries(d.images, 'tty-info.img');
  const ctty = infos.filter((i) => i.type === 'CTTY');
  assert.equal(ctty.length, 1, 'one tty_info for /dev/tty');
  const files = entries(d.images, 'files.img').filter((f) => f.type === 'TTY' && Number((f.tty as MessageValue).tty_info_id) === Number(ctty[0]!.id));
  assert.equal(files.length, 2, 'two /dev/tty files');
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited image: the non-blocking /dev/tty made blocking fails the check', async () => {
  assert.match(await restoreAndFinish(d!, (dir) => editImage(dir, 'files.img', (es) => {
    const ids = new Set(entries(dir, 'tty-info.img').filter((i) => i.type === 'CTTY').map((i) => Number(i.id)));
    const t = es.find((f) => f.type === 'TTY' && ids.has(Number((f.tty as MessageValue).tty_info_id)) && (Number((f.tty as MessageValue).flags) & O_NONBLOCK))!;
    (t.tty as MessageValue).flags = Number((t.tty as MessageValue).flags) & ~O_NONBLOCK;
  })), /^FAIL: the child says .*nonblock=0/);
});
