// A file the task opened by a path that a file system was mounted over since (zdtm's overmount_file,
// overmount_fifo, overmount_dev; CRIU refuses them all): test/programs/rt-overmount.c. A regular
// file comes back as that same file, through a link made for it beside the mount (remap-fpath.img,
// as a file replaced at its path does); without that remap the restore fails, naming the path. A
// FIFO (or a device node) is opened by its path at restore, which now leads into the other file
// system: refused at dump in one line, and the task runs on unharmed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { dump } from '../../src/dump/index.js';
import { startTarget } from '../helpers/dump-target.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
/** The tmpfs a killed task could not unmount itself. */
const unmount = (dir: string) => spawnSync('umount', ['-l', path.join(dir, 'sub')], { stdio: 'ignore' });
after(() => all.forEach((d) => { unmount(d.target.dir); cleanupDumped(d); }));

test('a regular file hidden under a mount comes back as that file, with its bytes; the link made for it goes', async () => {
  const d = await startAndDump('rt-overmount', ['file']);
  all.push(d);
  const links = () => readdirSync(d.target.dir).filter((n) => n.startsWith('link_remap.'));
  assert.equal(links().length, 1, 'the dump linked the hidden file beside the mount');
  assert.ok(existsSync(path.join(d.images, 'remap-fpath.img')));
  assert.equal(await restoreAndFinish(d), 'PASS');
  assert.deepEqual(links(), [], 'the restore removed the link once the task was back');
});

test('without its remap the restore opens the path, which leads into the tmpfs: refused naming it', async () => {
  const d = await startAndDump('rt-overmount', ['file']);
  all.push(d);
  await assert.rejects(restoreAndFinish(d, (dir) => rmSync(path.join(dir, 'remap-fpath.img'))), /\/sub\/foo .*cannot be found \(ENOENT\)/);
});

test('a FIFO hidden under a mount: the dump is refused naming it, the task runs on unharmed', async () => {
  const t = startTarget('rt-overmount', ['fifo']);
  try {
    await assert.rejects(dump({ pid: t.pid, dir: path.join(t.dir, 'images') }),
      new RegExp(`the FIFO ${t.dir}/sub/foo is no longer reachable by its path \\(a file system is mounted over it, or another file took the name\\): cryo cannot restore it`));
    assert.equal(t.finish(), 'PASS');
  } finally {
    unmount(t.dir);
    t.cleanup();
  }
});
