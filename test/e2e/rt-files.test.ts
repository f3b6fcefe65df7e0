// Files come back exactly as they were: each test/programs/rt-files-*.c sets up one kind of
// descriptor state, is dumped (and killed), restored, and checks its state on SIGTERM (PASS).
// Each also restores from an edited image once, to prove its check notices the difference.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodeImageFile, encodeImage } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { closeSync, constants as fsConstants, copyFileSync, existsSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, restoreRefused, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

async function dumped(name: string, args: string[] = []): Promise<Dumped> {
  const d = await startAndDump(name, args);
  all.push(d);
  return d;
}

/** The task's fdinfo-N.img (N is its files id). */
const fdinfoOf = (dir: string) => readdirSync(dir).find((n) => /^fdinfo-\d+\.img$/.test(n))!;

/** The REG entry of files.img whose path ends with `suffix`. */
function regNamed(entries: MessageValue[], suffix: string): MessageValue {
  const f = entries.find((e) => e.type === 'REG' && String((e.reg as MessageValue).name).endsWith(suffix));
  assert.ok(f, `files.img has ${suffix}`);
  return f.reg as MessageValue;
}

test('regular files: path, access mode, O_APPEND, close-on-exec, offset, mode, a shared offset', async () => {
  const d = await dumped('rt-files-reg');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const moved = await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (e) => {
    regNamed(e, '/rw.txt').pos = 9n;
  }));
  assert.match(moved, /^FAIL: fd 5 \(rw\.txt\) offset 9, want 7/);
  const flags = await restoreAndFinish(d, (dir) => editImage(dir, fdinfoOf(dir), (e) => {
    e.find((f) => f.fd === 9)!.flags = 0;
  }));
  assert.match(flags, /^FAIL: fd 9 \(ro\.txt\) close-on-exec 0, want 1/);
});

/** Rewrites the extra payload (file content, pipe bytes) of the first entry of an image. */
function editExtra(file: string, edit: (b: Buffer) => Buffer): void {
  const img = decodeImageFile(file);
  const e = img.entries.find((x) => Buffer.isBuffer(x.extra));
  assert.ok(e, `${file} has a payload`);
  const entries = img.entries.map((x) => (x === e ? { ...x, extra: edit(x.extra as Buffer) } : x));
  writeFileSync(file, encodeImage({ ...img, entries }));
}

test('files unlinked while open: content, still unlinked, name, offset, mode', async () => {
  const d = await dumped('rt-files-ghost');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const edited = await restoreAndFinish(d, (dir) => {
    const ghost = readdirSync(dir).filter((n) => n.startsWith('ghost-file-')).map((n) => path.join(dir, n))
      .find((f) => decodeImageFile(f).entries[0]!.value.chunks !== true)!;
    editExtra(ghost, (b) => Buffer.concat([Buffer.from('T'), b.subarray(1)]));
  });
  assert.match(edited, /^FAIL: fd 4 content differs: 'The content/);
});

test('character devices: /dev/null, /dev/zero, /dev/urandom with their flags, and a deleted device node', async () => {
  const d = await dumped('rt-files-dev');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const other = await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (e) => {
    regNamed(e, '/dev/zero').name = '/dev/full';
  }));
  assert.match(other, /^FAIL: fd 5 is device 1:7, want 1:5/);
  // The deleted node comes back from its ghost image: its device number and owner are the image's.
  const ghost = (dir: string) => readdirSync(dir).find((n) => /^ghost-file-\d+\.img$/.test(n))!;
  assert.equal(Number(decodeImageFile(path.join(d.images, ghost(d.images))).entries[0]!.value.mode), 0o20640);
  const rdev = await restoreAndFinish(d, (dir) => editImage(dir, ghost(dir), ([g]) => { g!.rdev = (1 << 8) | 5; }));
  assert.match(rdev, /^FAIL: fd 7 \(the deleted node\) is device 1:5/);
  const owner = await restoreAndFinish(d, (dir) => editImage(dir, ghost(dir), ([g]) => { g!.uid = 1234; }));
  assert.match(owner, /^FAIL: fd 7 \(the deleted node\) has mode 0640 owner 1234:8765/);
});

test('a console node (5:1): the same device after restore', { skip: consoleOpens() ? false : 'this machine has no console to open' }, async () => {
  const d = await dumped('rt-files-dev', ['console']);
  assert.equal(await restoreAndFinish(d), 'PASS');
  const other = await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (e) => {
    (e.find((f) => String((f.reg as MessageValue | undefined)?.name ?? '').endsWith('/console.node'))!.reg as MessageValue).name = '/dev/null';
  }));
  assert.match(other, /^FAIL: fd 8 is device 1:3, want 5:1/);
});

test('a pipe and a FIFO with data in their buffers, both ends held, a pipe end opened again with its own flags', async () => {
  const d = await dumped('rt-files-pipe');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const pipe = await restoreAndFinish(d, (dir) => editExtra(path.join(dir, 'pipes-data.img'), (b) => Buffer.from(b.toString().toUpperCase())));
  assert.match(pipe, /^FAIL: the pipe holds 'BYTES QUEUED IN THE PIPE', want 'bytes queued in the pipe'/);
  const fifo = await restoreAndFinish(d, (dir) => editExtra(path.join(dir, 'fifo-data.img'), (b) => Buffer.from(b.toString().replace('fifo', 'FIFO'))));
  assert.match(fifo, /^FAIL: the fifo holds 'bytes queued in the FIFO', want 'bytes queued in the fifo'/);
  // Each open end keeps its own flags: O_NONBLOCK set in the image for fd 8's file shows on fd 8 only.
  const nonblock = await restoreAndFinish(d, (dir) => {
    const fdi = readdirSync(dir).find((n) => /^fdinfo-\d+\.img$/.test(n))!;
    const id = decodeImageFile(path.join(dir, fdi)).entries.find((e) => Number(e.value.fd) === 8)!.value.id;
    editImage(dir, 'files.img', (e) => { const p = e.find((f) => f.id === id)!.pipe as MessageValue; p.flags = Number(p.flags) | 0o4000; });
  });
  assert.match(nonblock, /^FAIL: fd 8 flags 0\d*4001, want O_WRONLY/);
  // The empty pipe's own buffer size is in pipes-data.img (no bytes), as CRIU writes it.
  const size = await restoreAndFinish(d, (dir) => editImage(dir, 'pipes-data.img', (es) => { es.find((e) => Number(e.bytes) === 0)!.size = 131072; }));
  assert.match(size, /^FAIL: empty pipe buffer 131072 bytes, want 262144/);
});

/** The files.img entry of the task's descriptor `fd` (its id from fdinfo-N.img). */
function fileOf(entries: MessageValue[], dir: string, fd: number): MessageValue {
  const id = decodeImageFile(path.join(dir, fdinfoOf(dir))).entries.find((e) => Number(e.value.fd) === fd)!.value.id;
  return entries.find((f) => f.id === id)!;
}

test('deleted FIFOs: one with bytes in it, one made where a socket name was deleted; deleted socket names with peers', async () => {
  const d = await dumped('rt-files-fifo-ghost');
  assert.equal(await restoreAndFinish(d), 'PASS');
  // The deleted FIFO comes back from its ghost image (mode and owner), its bytes from fifo-data.img.
  const ghost = (dir: string) => readdirSync(dir).find((n) => /^ghost-file-\d+\.img$/.test(n))!;
  assert.equal(Number(decodeImageFile(path.join(d.images, ghost(d.images))).entries[0]!.value.mode), 0o10640);
  const mode = await restoreAndFinish(d, (dir) => editImage(dir, ghost(dir), ([g]) => { g!.mode = 0o10600; }));
  assert.match(mode, /^FAIL: fd 4 mode 0600, want 0640/);
  const bytes = await restoreAndFinish(d, (dir) => editExtra(path.join(dir, 'fifo-data.img'), (b) => Buffer.from(b.toString().toUpperCase())));
  assert.match(bytes, /^FAIL: the deleted fifo holds 'BYTES QUEUED/);
  // fd 7 connects to fd 6's deleted name (a FIFO there now), fd 10 to fd 9's (nothing there).
  const unconnected = await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (e) => { (fileOf(e, dir, 7).usk as MessageValue).peer = 0; }));
  assert.match(unconnected, /^FAIL: send on fd 7: Transport endpoint is not connected/);
  // A restore failing after fd 6 and fd 9 were bound (fd 9 made to connect to fd 6: fd 10 may not
  // connect to a socket connected elsewhere) takes the names it moved aside too.
  const err = await restoreRefused(d, (dir) => editImage(dir, 'files.img', (e) => {
    (fileOf(e, dir, 9).usk as MessageValue).peer = (fileOf(e, dir, 6).usk as MessageValue).ino;
  }));
  assert.match(err, /errno 1 from connect\(\S+\) restoring fd 10/);
  assert.deepEqual(readdirSync(path.join(d.target.dir, 'd')), ['sock']);
  const kept = await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (e) => { delete (fileOf(e, dir, 9).usk as MessageValue).deleted; }));
  assert.match(kept, /^FAIL: \S+\/d\/gone\.sock exists: left behind/);
});

test('a pipe end that signals its owner: O_ASYNC, F_SETOWN, F_SETSIG', async () => {
  const d = await dumped('rt-files-async');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const O_ASYNC = 0o20000;
  const unarmed = await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (e) => {
    const pipe = fileOf(e, dir, 4).pipe as MessageValue;
    pipe.flags = Number(pipe.flags) & ~O_ASYNC;
  }));
  assert.match(unarmed, /^FAIL: 0 SIGUSR1 after a write to fd 4's pipe, want 1/);
});

/** The ghost-file-N.img of the deleted file the task's descriptor `fd` holds. */
function ghostOf(dir: string, fd: number): string {
  const id = fileOf(decodeImageFile(path.join(dir, 'files.img')).entries.map((e) => e.value), dir, fd).id;
  const remap = decodeImageFile(path.join(dir, 'remap-fpath.img')).entries.find((e) => e.value.orig_id === id)!.value;
  return `ghost-file-${Number(remap.remap_id).toString(16)}.img`; // ids in hex, as CRIU names them
}

test('deleted files: one held through two links, one whose name a new file took, an unnamed one (O_TMPFILE)', async () => {
  const d = await dumped('rt-files-ghost-names');
  assert.equal(await restoreAndFinish(d), 'PASS');
  // fd 5's link given a ghost of its own (a copy of the one fd 4 names): two files come back.
  const split = await restoreAndFinish(d, (dir) => {
    copyFileSync(path.join(dir, ghostOf(dir, 4)), path.join(dir, 'ghost-file-99.img'));
    const id = fileOf(decodeImageFile(path.join(dir, 'files.img')).entries.map((e) => e.value), dir, 5).id;
    editImage(dir, 'remap-fpath.img', (e) => { e.find((r) => r.orig_id === id)!.remap_id = 0x99; });
  });
  assert.match(split, /^FAIL: fd 4 and fd 5 are different files/);
  const gone = await restoreAndFinish(d, (dir) => editExtra(path.join(dir, ghostOf(dir, 6)), (b) => Buffer.from(b.toString().toUpperCase())));
  assert.match(gone, /^FAIL: fd 6 holds 'THE DELETED FILE/);
  const flags = await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (e) => {
    const reg = fileOf(e, dir, 8).reg as MessageValue;
    reg.flags = Number(reg.flags) & ~fsConstants.O_RDWR;
  }));
  assert.match(flags, /^FAIL: fd 8 flags 0\d+, want O_RDWR/);
});

test('files whose path leads elsewhere now while another link keeps them: linked as link_remap.N at dump, the same inodes after restore, the names removed', async () => {
  const d = await dumped('rt-files-link-remap');
  const files = decodeImageFile(path.join(d.images, 'files.img')).entries.map((e) => e.value);
  const remaps = decodeImageFile(path.join(d.images, 'remap-fpath.img')).entries.map((e) => e.value);
  assert.deepEqual(remaps.map((r) => r.remap_type), ['LINKED', 'LINKED', 'LINKED']);
  const made = remaps.map((r) => String((files.find((f) => f.id === r.remap_id)!.reg as MessageValue).name));
  for (const name of made) {
    assert.match(name, /\/d\/link_remap\.\d+$/, 'in the nearest directory that exists (d/sub is gone)');
    assert.ok(existsSync(name));
  }
  assert.equal(await restoreAndFinish(d), 'PASS');
  for (const name of made) assert.ok(!existsSync(name), `${name} removed after restore`);
  // Another dump, its link for fd 4 pointed elsewhere: a file restore would remove is refused
  // unless it has a link_remap name, and the decoy named so comes back instead.
  const e = await dumped('rt-files-link-remap');
  const pointAt = (name: string) => (dir: string) => {
    const id = fileOf(decodeImageFile(path.join(dir, 'files.img')).entries.map((x) => x.value), dir, 4).id;
    const remapId = decodeImageFile(path.join(dir, 'remap-fpath.img')).entries.find((r) => r.value.orig_id === id)!.value.remap_id;
    editImage(dir, 'files.img', (f) => { (f.find((x) => x.id === remapId)!.reg as MessageValue).name = path.join(e.target.dir, 'd', name); });
  };
  assert.match(await restoreRefused(e, pointAt('keep')), /\/d\/keep, which is no link_remap\.N name a dump makes/);
  assert.match(await restoreAndFinish(e, pointAt('link_remap.999')), /^FAIL: fd 4 is another file than \S+\/d\/keep/);
});

test('O_PATH descriptors: a file, a directory, a symbolic link itself and an unlinked one', async () => {
  const d = await dumped('rt-files-opath');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const flags = await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (e) => {
    const reg = fileOf(e, dir, 4).reg as MessageValue;
    reg.flags = Number(reg.flags) & ~0o10000000;
  }));
  assert.match(flags, /^FAIL: fd 4 flags 0\d+, want O_PATH/);
  // The unlinked link comes back from its ghost image: target and owner.
  const ghost = (dir: string) => readdirSync(dir).find((n) => /^ghost-file-\d+\.img$/.test(n))!;
  assert.equal(decodeImageFile(path.join(d.images, ghost(d.images))).entries[0]!.value.symlnk_target, 'some/target');
  const target = await restoreAndFinish(d, (dir) => editImage(dir, ghost(dir), ([g]) => { g!.symlnk_target = 'other/target'; }));
  assert.match(target, /^FAIL: fd 6 points to 'other\/target', want some\/target/);
  const owner = await restoreAndFinish(d, (dir) => editImage(dir, ghost(dir), ([g]) => { g!.uid = 0; }));
  assert.match(owner, /^FAIL: fd 6 owner 0:4321, want 1234:4321/);
  // A link the dump saw is opened as a link only: a regular file at its name now is refused.
  const err = await restoreRefused(d, (dir) => editImage(dir, 'files.img', (e) => {
    const reg = fileOf(e, dir, 5).reg as MessageValue;
    reg.name = String(reg.name).replace(/\/link$/, '/file');
  }));
  assert.match(err, /\/d\/file \(fd 5\) is now a regular file, it was a symbolic link at dump time/);
});

test('removed directories: a working directory also held open, one held open whose parent is gone too; recreated for the restore, removed again', async () => {
  const d = await dumped('rt-cwd-gone');
  const ghosts = readdirSync(d.images).filter((n) => /^ghost-file-\d+\.img$/.test(n));
  assert.equal(ghosts.length, 2, 'two ghosts: the working directory (cwd and fd share it) and top/inner');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const gone = ghosts.find((g) => Number(decodeImageFile(path.join(d.images, g)).entries[0]!.value.mode) === 0o40751)!;
  const mode = await restoreAndFinish(d, (dir) => editImage(dir, gone, ([g]) => { g!.mode = 0o40700; }));
  assert.match(mode, /^FAIL: cwd mode 0700, want 0751/);
  // zdtm rmdir_open: the parent made for the restore, under the name the image gives.
  const renamed = await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (e) => {
    const reg = fileOf(e, dir, Number(d.target.ready.i)).reg as MessageValue;
    reg.name = String(reg.name).replace('/top/inner', '/top2/inner');
  }));
  assert.match(renamed, /^FAIL: fd \d+ is '\S+\/top2\/inner \(deleted\)', want '\S+\/top\/inner \(deleted\)'/);
});

test('working directory, root (chroot) and umask', async () => {
  const d = await dumped('rt-files-fs');
  assert.equal(await restoreAndFinish(d), 'PASS');
  const umask = await restoreAndFinish(d, (dir) => editImage(dir, `fs-${d.pid}.img`, ([fs]) => { fs!.umask = 0o22; }));
  assert.match(umask, /^FAIL: umask 022, want 027/);
});

/** Whether the console (5:1) can be opened here (a machine with no console device registered gives ENODEV). */
function consoleOpens(): boolean {
  try {
    closeSync(openSync('/dev/console', fsConstants.O_RDONLY | fsConstants.O_NOCTTY));
    return true;
  } catch {
    return false;
  }
}
