// A deleted file with set-id bits (test/programs/rt-files-setid.c, mode 06604 as zdtm's file_attr)
// comes back without any option: restore makes it again at its old path without the set-id bits
// and sets them through a descriptor it holds once the path is unlinked again, so no path ever
// shows a set-id file (guardian.test.ts kills a restore while the file is there). Edited images
// show the program's check notices lost bits, and that bits in the ghost image only (not for the
// file the task had open) are refused.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { restore, RestoreError } from '../../src/restore/index.js';
import { editImage, nothingLeftBehind } from '../helpers/restore-env.js';
import { cleanupDumped, imagesCopy, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

let d: Dumped | undefined;
after(() => cleanupDumped(d));

const ghostImage = (dir: string) => readdirSync(dir).find((n) => /^ghost-file-\d+\.img$/.test(n))!;
/** The mode of the deleted file in its ghost image and (`both`) in files.img, for the file the task had open. */
const withMode = (mode: number, both: boolean) => (dir: string) => {
  editImage(dir, ghostImage(dir), ([g]) => { g!.mode = mode; });
  if (both) editImage(dir, 'files.img', (e) => { (e.find((f) => String((f.reg as MessageValue | undefined)?.name).endsWith('/setid'))!.reg as MessageValue).mode = mode; });
};

test('a deleted set-id file comes back set-id without --allow-setid-files; lost bits are noticed, bits for the ghost only refused', async () => {
  d = await startAndDump('rt-files-setid');
  assert.equal(Number(decodeImageFile(path.join(d.images, ghostImage(d.images))).entries[0]!.value.mode) & 0o7777, 0o6604);
  assert.equal(await restoreAndFinish(d), 'PASS');

  // The bits lost in both images: the program notices.
  assert.match(await restoreAndFinish(d, withMode(0o100604, true)), /^FAIL: fd 4 mode 0604, want 06604/);
  // The bits in the ghost image but not for the file the task had open: refused before anything runs.
  const crafted = imagesCopy(d, (x) => { withMode(0o100604, true)(x); withMode(0o106604, false)(x); });
  try {
    await assert.rejects(restore({ dir: crafted }), (e: unknown) => e instanceof RestoreError && e.code === 'UNSAFE'
      && /gives the deleted file \S+\/setid \(fd 4\) mode 06604, but files.img, the file the task had open, mode 0604: refusing the set-user-ID and set-group-ID bits/.test(e.message));
  } finally {
    rmSync(crafted, { recursive: true, force: true });
  }
  assert.equal(nothingLeftBehind(d.pid), undefined);

  // Held by a process running as another user (uid 1000), which could run it as root: refused
  // unless --allow-setid-files; a set-id file of its own user is not refused.
  const asUser = (uid: number, fileUid = 0) => (dir: string) => {
    editImage(dir, `core-${d!.pid}.img`, ([c]) => { Object.assign((c!.thread_core as MessageValue).creds as MessageValue, { uid, euid: uid, suid: uid, fsuid: uid }); });
    editImage(dir, ghostImage(dir), ([g]) => { g!.uid = fileUid; g!.gid = 0; });
  };
  const other = imagesCopy(d, asUser(1000));
  try {
    await assert.rejects(restore({ dir: other }), (e: unknown) => e instanceof RestoreError && e.code === 'UNSAFE'
      && /the deleted file \S+\/setid \(fd 4\) is set-user-ID and set-group-ID \(mode 06604, owner 0:0\) and process \d+, which holds it, runs as uid 1000\/1000\/1000\/1000: it could run it with those ids; restore with --allow-setid-files if you trust this dump$/.test(e.message));
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
  assert.equal(nothingLeftBehind(d.pid), undefined);
  // Past that check (the restore as uid 1000 may end in PASS, FAIL or another refusal).
  const past = (edit: (dir: string) => void, allowSetidFiles: boolean) => restoreAndFinish(d!, edit, { restore: { allowSetidFiles } }).catch((e: Error) => e.message);
  assert.doesNotMatch(await past(asUser(1000), true), /allow-setid-files/);
  assert.doesNotMatch(await past(asUser(1000, 1000), false), /allow-setid-files/);
});
