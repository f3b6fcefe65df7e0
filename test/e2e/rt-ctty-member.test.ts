// A session member that does not lead its session keeps the session's controlling terminal:
// test/programs/rt-ctty-member.c (a leader on a pty whose master its parent holds, and a member in
// a group of its own, as a shell's job) is dumped and restored; the member opens /dev/tty, puts
// its group in front with tcsetpgrp and writes through the terminal. The kernel gives a process its
// controlling terminal only when it is forked from one that has it, so the leader must have taken
// the terminal before its members are made. An edited image (the terminal controls no session)
// fails the check.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

let d: Dumped | undefined;
after(() => cleanupDumped(d));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);

test('a non-leader member of a session on a pty held in the tree has its controlling terminal after restore', async () => {
  d = await startAndDump('rt-ctty-member');
  const kid = Number(d.target.ready.kid);
  assert.ok(entries(d.images, 'tty-info.img').some((i) => i.type === 'PTY' && Number(i.sid) === kid), 'the pty tells the session it controls');
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited image: the pty controls no session, and the member has no controlling terminal', async () => {
  const out = await restoreAndFinish(d!, (dir) => editImage(dir, 'tty-info.img', (es) => {
    for (const i of es) if (i.type === 'PTY') { i.sid = 0; i.pgrp = 0; }
  }));
  assert.match(out, /^FAIL: the member says 'open=6 /);
});
