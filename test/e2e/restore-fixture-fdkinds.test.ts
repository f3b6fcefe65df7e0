// The CRIU 4.2 `fdkinds` fixture (PID 18683: eventfd, epoll, timerfd, a unix socketpair,
// signalfd, memfd, inotify). Its inotify watch on /tmp/cryo-fixtures carries, besides the file
// handle, the path CRIU resolved from it at dump time (f_handle.path, in the image despite the
// fixture README): like CRIU, cryo watches that path again. Without the path, the handle (of
// another machine's file system) does not open here, and preflight must refuse naming the watch.
// The whole fixture restores, its unix socketpair (fds 6 and 7, 13 bytes queued 7->6 in
// sk-queues.img) included.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { restore, loadImages } from '../../src/restore/index.js';
import { checkFds } from '../../src/restore/preflight.js';
import { fdKindOfType } from '../../src/files/registry.js';
import type { MessageValue } from '../../src/images/value.js';
import { becomeSubreaper, copyImages, editImage, FIXTURE_DIR, waitGone } from '../helpers/restore-env.js';
import { fixturesDir } from '../helpers/paths.js';
import { onlyOn } from '../helpers/arch-only.js';
import { fixtureCpuSkip } from '../helpers/cpu.js';

const skip = onlyOn(['x64'], 'fixtures dumped on x86_64');

const PID = 18683;
const OUT = `${FIXTURE_DIR}/fdkinds.out`;

becomeSubreaper();

function prepareFdkindsFixture(): void {
  mkdirSync(path.join(FIXTURE_DIR, 'bin'), { recursive: true });
  const bin = path.join(FIXTURE_DIR, 'bin', 'fdkinds');
  const src = path.join(fixturesDir, 'bin', 'fdkinds');
  if (!existsSync(bin) || statSync(bin).size !== statSync(src).size) copyFileSync(src, bin);
  rmSync(OUT, { force: true });
}

/** The fixture's inotify watch (fd 10) in files.img entries. */
const watchOf = (files: MessageValue[]) => ((files.find((f) => f.type === 'INOTIFY')!.ify as MessageValue).wd as MessageValue[])[0]!;

test('fdkinds fixture: every descriptor kind cryo has passes its checks; the watch is found by its path hint', { skip }, () => {
  prepareFdkindsFixture();
  const dir = copyImages('fdkinds');
  try {
    const img = loadImages(dir);
    const w = watchOf([...img.files.values()]);
    assert.equal((w.f_handle as MessageValue).path, FIXTURE_DIR);
    assert.doesNotThrow(() => checkFds(img));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fdkinds fixture: the watch stored only as a file handle does not open here: refused, naming the watch', { skip }, () => {
  prepareFdkindsFixture();
  const dir = copyImages('fdkinds');
  try {
    editImage(dir, 'files.img', (files) => { delete (watchOf(files).f_handle as MessageValue).path; });
    assert.throws(() => checkFds(loadImages(dir)),
      /^RestoreError: fd 10 \(inotify\): watch 1 on inode 2179073 of device 254:0 \(no path recorded\) cannot be found: its file handle does not open on this machine/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fdkinds fixture: restored (its socketpair with 13 bytes queued 7->6 included) and passes its own check', { skip: skip || fixtureCpuSkip('fdkinds') }, async () => {
  prepareFdkindsFixture();
  const dir = copyImages('fdkinds');
  try {
    assert.ok(fdKindOfType('UNIXSK'), 'unix sockets are a registered kind');
    const r = await restore({ dir });
    try {
      assert.equal(r.pid, PID);
      process.kill(PID, 'SIGTERM');
      assert.deepEqual(await r.wait!(), { code: 0, signal: null });
      assert.equal(readFileSync(OUT, 'utf8').trim(), 'PASS');
    } finally {
      try { process.kill(PID, 'SIGKILL'); } catch { /* gone */ }
      waitGone(PID);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
