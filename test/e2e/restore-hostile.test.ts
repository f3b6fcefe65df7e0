// Restore writes only where the dump said, and never through a trap. Each test crafts a hostile
// image from a real dump (decoded, edited and encoded again with cryo's own codec) or plants a
// symbolic link after the dump, and proves restore refuses it before anything starts, with one
// line, leaving nothing behind: no process, no file made, the file that would have been
// overwritten, renamed or unlinked intact.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { restore, RestoreError, type RestoreOptions } from '../../src/restore/index.js';
import { __WALL, kill, waitpid } from '../../src/sys/index.js';
import { dump } from '../../src/dump/index.js';
import { readCryoLinks } from '../../src/images/cryo-image.js';
import { becomeSubreaper, editImage, nothingLeftBehind, waitGone } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { cleanupDumped, imagesCopy, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const dumps = new Map<string, Dumped>();
after(() => dumps.forEach(cleanupDumped));

/** The dump of test program `name` (made once). */
async function dumped(name: string): Promise<Dumped> {
  let d = dumps.get(name);
  if (!d) dumps.set(name, d = await startAndDump(name));
  return d;
}

/**
 * Restores `d` from a copy edited by `edit` and expects a refusal before the point of no return:
 * `code`, a message matching `message`, one line, and no process left. A restore that succeeds
 * (the hole is open) fails the test and the task is killed.
 */
async function refused(d: Dumped, edit: (dir: string) => void, code: string, message: RegExp, opts: Partial<RestoreOptions> = {}): Promise<void> {
  const dir = imagesCopy(d, edit);
  const phases: string[] = [];
  try {
    await assert.rejects(restore({ ...opts, dir, detach: true, onEvent: (e) => { if (e.type === 'phase') phases.push(e.phase); } }), (e: unknown) => {
      assert.ok(e instanceof RestoreError, `not a RestoreError: ${e}`);
      assert.equal(e.code, code, e.message);
      assert.match(e.message, message);
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    });
    // Refused in preflight, or while the images were read before it: before anything starts.
    assert.ok(phases.every((p) => p === 'preflight'), `refused before anything starts, not in ${phases.join(', ')}`);
  } finally {
    try { kill(d.pid, 9); waitpid(d.pid, __WALL); } catch { /* not running: refused */ }
    assert.equal(nothingLeftBehind(d.pid), undefined);
  }
}

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
const fdinfoName = (dir: string) => readdirSync(dir).find((n) => /^fdinfo-\d+\.img$/.test(n))!;
/** The file_entry of the task's descriptor `fd` in `files` (files.img's entries). */
function fileOfFd(dir: string, files: MessageValue[], fd: number): MessageValue {
  const id = entries(dir, fdinfoName(dir)).find((f) => Number(f.fd) === fd)!.id;
  return files.find((f) => f.id === id)!;
}
/** Edits the REG entry of files.img whose name ends with `suffix`. */
const editReg = (suffix: string, fn: (reg: MessageValue) => void) => (dir: string) => editImage(dir, 'files.img', (files) => {
  const f = files.find((e) => e.type === 'REG' && String((e.reg as MessageValue).name).endsWith(suffix));
  assert.ok(f, `files.img has ${suffix}`);
  fn(f.reg as MessageValue);
});
/** Edits the unix_sk_entry of the task's descriptor `fd`. */
const editUsk = (fd: number, fn: (usk: MessageValue) => void) => (dir: string) => editImage(dir, 'files.img', (files) => {
  fn(fileOfFd(dir, files, fd).usk as MessageValue);
});
const fdOf = (d: Dumped, key: string) => Number(d.target.ready[key]);
const sockName = (p: string) => Buffer.from(`${p}\0`);
/** A directory `victim` and a symbolic link `lnk` to it, in the program's directory. */
function plantLink(d: Dumped, lnk: string, victim: string): { lnk: string; victim: string } {
  const v = path.join(d.target.dir, victim);
  const l = path.join(d.target.dir, lnk);
  mkdirSync(v, { recursive: true });
  if (!existsSync(l)) symlinkSync(v, l);
  return { lnk: l, victim: v };
}

// ---------------------------------------------------------------- deleted files (ghosts)

test('a deleted file at a relative path: refused, nothing created where cryo or the task runs', async () => {
  const d = await dumped('rt-files-ghost');
  const rel = `tmp/cryo-hostile-ghost-${d.pid}`;
  const cwd = process.cwd();
  process.chdir('/'); // where cryo's stub runs too: the hole let both find the file
  try {
    await refused(d, editReg('/small-ghost', (r) => { r.name = rel; }), 'UNSAFE', /names the path "tmp\/cryo-hostile-ghost-\d+", and it is not absolute/);
  } finally {
    process.chdir(cwd);
  }
  assert.ok(!existsSync(path.join('/', rel)));
});

test('a deleted file set-user-ID in its ghost image but not for the file the task had open: refused (rt-files-setid restores one)', async () => {
  const d = await dumped('rt-files-ghost');
  const ghostImage = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('ghost-file-')).map((n) => path.join(dir, n))
    .find((f) => decodeImageFile(f).entries[0]!.value.chunks !== true)!;
  const setuid = (dir: string) => editImage(dir, path.basename(ghostImage(dir)), ([g]) => { g!.mode = 0o104750; });
  await refused(d, setuid, 'UNSAFE', /gives the deleted file \S+small-ghost \(fd 4\) mode 04750, but files.img, the file the task had open, mode 0640: refusing the set-user-ID bits/);
});

test('a deleted file whose directory is a symbolic link planted after the dump: refused, nothing made in the link\'s target', async () => {
  const d = await dumped('rt-files-ghost');
  const { lnk, victim } = plantLink(d, 'ghost-lnk', 'ghost-victim');
  await refused(d, editReg('/small-ghost', (r) => { r.name = path.join(lnk, 'small-ghost'); }), 'UNSAFE', /ghost-lnk is a symbolic link, which the dump did not see/);
  assert.deepEqual(readdirSync(victim), []);
});

// ---------------------------------------------------------------- unix socket names

test('a deleted socket name where a file is now: refused, the file and NAME.criu-sk-ghost untouched', async () => {
  const d = await dumped('rt-unix');
  const victim = path.join(d.target.dir, 'victim.txt');
  writeFileSync(victim, 'the victim\n');
  writeFileSync(`${victim}.criu-sk-ghost`, 'precious, not restore\'s\n');
  await refused(d, editUsk(fdOf(d, 'g'), (u) => { u.name = sockName(victim); }), 'FILE_CHANGED', /bound to \S+victim\.txt, a name deleted at dump time, and something is there again now: move it away/);
  assert.equal(readFileSync(victim, 'utf8'), 'the victim\n');
  assert.equal(readFileSync(`${victim}.criu-sk-ghost`, 'utf8'), 'precious, not restore\'s\n');
});

test('a socket name where another process listens now: refused, its socket file not unlinked', async () => {
  const d = await dumped('rt-unix');
  const live = path.join(d.target.dir, 'live.sock');
  const server = net.createServer((c) => c.destroy());
  await new Promise<void>((res) => server.listen(live, res));
  try {
    const ino = statSync(live).ino;
    await refused(d, editUsk(fdOf(d, 'd'), (u) => { u.name = sockName(live); }), 'UNSAFE', /bound to \S+live\.sock, and a running socket is bound there now: stop its owner first/);
    assert.equal(statSync(live).ino, ino, 'the listener\'s socket file is still there');
  } finally {
    await new Promise<void>((res) => server.close(() => res()));
  }
});

test('a socket name through a symbolic link planted after the dump: refused, no socket file made, chowned or chmodded in its target', async () => {
  const d = await dumped('rt-unix');
  const { lnk, victim } = plantLink(d, 'sk-lnk', 'sk-victim');
  await refused(d, editUsk(fdOf(d, 'd'), (u) => { u.name = sockName(path.join(lnk, 'evil.sock')); }), 'UNSAFE', /sk-lnk is a symbolic link, which the dump did not see/);
  assert.deepEqual(readdirSync(victim), []);
  assert.ok(lstatSync(lnk).isSymbolicLink());
});

test('a relative socket name under a directory that is a symbolic link, or leaving its directory: refused, the task never enters it', async () => {
  const d = await dumped('rt-unix');
  const { lnk, victim } = plantLink(d, 'dir-lnk', 'dir-victim');
  await refused(d, editUsk(fdOf(d, 'r'), (u) => { u.name_dir = lnk; }), 'UNSAFE', /dir-lnk is a symbolic link, which the dump did not see/);
  assert.deepEqual(readdirSync(victim), []);
  await refused(d, editUsk(fdOf(d, 'r'), (u) => { u.name = sockName('../escape.sock'); }), 'UNSAFE', /relative name "\.\.\/escape\.sock"/);
  assert.ok(!existsSync(path.join(path.dirname(d.target.dir), 'escape.sock')));
});

test('a deleted socket name whose directories are gone: made for the bind and removed again, nothing left', async () => {
  const d = await dumped('rt-unix');
  const made = path.join(d.target.dir, 'made');
  const got = await restoreAndFinish(d, editUsk(fdOf(d, 'g'), (u) => { u.name = sockName(path.join(made, 'sub', 'gone.sock')); }));
  assert.match(got, /^FAIL: deleted name: name changed/, 'bound to the edited name (the program notices)');
  assert.ok(!existsSync(made), 'the directories restore made are gone again');
});

test('socket names bound through a symbolic link the dump saw (as /var/run -> /run): restored through it; the link pointed elsewhere since: refused', async () => {
  becomeSubreaper();
  const link = path.join(os.tmpdir(), `cryo-hostile-link-${process.pid}`);
  rmSync(link, { force: true });
  const t = startTarget('rt-unix', [], { dirArg: (dir) => { symlinkSync(dir, link); return link; } });
  const images = path.join(t.dir, 'images');
  const d: Dumped = { target: t, pid: t.pid, images, readyLine: '' };
  dumps.set('rt-unix via a link', d);
  try {
    await dump({ pid: t.pid, dir: images });
    assert.ok(waitGone(t.pid));
    d.readyLine = readFileSync(t.outFile, 'utf8').split('\n')[0]!;
    assert.deepEqual([...readCryoLinks(images)], [[link, t.dir]], 'the dump records the link it met');
    assert.equal(await restoreAndFinish(d), 'PASS');
    await refused(d, (dir) => rmSync(path.join(dir, 'cryo-links.img')), 'UNSAFE', /cryo-hostile-link-\d+ is a symbolic link, which the dump did not see/);
    const elsewhere = path.join(t.dir, 'elsewhere');
    mkdirSync(elsewhere);
    rmSync(link);
    symlinkSync(elsewhere, link);
    await refused(d, () => {}, 'UNSAFE', /cryo-hostile-link-\d+ is a symbolic link, which the dump did not see/);
    assert.deepEqual(readdirSync(elsewhere), []);
  } finally {
    rmSync(link, { force: true });
  }
});

// ---------------------------------------------------------------- FIFOs, pages, cwd and root

test('an inotify watch whose path hint leads through a symbolic link: the hint is not followed, the watch goes on the inode its handle names', async () => {
  const d = await dumped('rt-fdkinds');
  const { lnk } = plantLink(d, 'watch-lnk', 'a');
  const got = await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (files) => {
    const w = ((fileOfFd(dir, files, fdOf(d, 'ifd')).ify as MessageValue).wd as MessageValue[]).find((x) => Number(x.wd) === 2)!;
    (w.f_handle as MessageValue).path = lnk; // b's watch, hinted at a link to a
  }));
  assert.equal(got, 'PASS', 'watch 2 is on b again (a watch through the link would be on a)');
});

test('a FIFO whose path names a regular file (mode 0 in the image): refused, the file not written', async () => {
  const d = await dumped('rt-files-pipe');
  const victim = path.join(d.target.dir, 'victim.txt');
  writeFileSync(victim, 'the victim file, not a FIFO\n');
  await refused(d, editReg('/fifo', (r) => { r.name = victim; r.mode = 0; }), 'FILE_CHANGED', /victim\.txt \(fd 6\) is now a regular file, it was a FIFO at dump time/);
  assert.equal(readFileSync(victim, 'utf8'), 'the victim file, not a FIFO\n');
});

test('pages placed in a MAP_SHARED file mapping: refused, the file not written', async () => {
  const d = await dumped('rt-mem');
  const shared = path.join(d.target.dir, 'shared.dat');
  const before = readFileSync(shared);
  const move = (dir: string) => {
    const vma = (entries(dir, `mm-${d.pid}.img`)[0]!.vmas as MessageValue[]).find((v) => (Number(v.status) & (1 << 7)) !== 0)!; // VMA_FILE_SHARED
    const pagemap = readdirSync(dir).find((n) => /^pagemap-\d+\.img$/.test(n))!;
    editImage(dir, pagemap, (runs) => {
      const run = runs.slice(1).find((r) => Number(r.nr_pages) <= 2 && BigInt(r.vaddr as bigint) !== BigInt(vma.start as bigint))!;
      run.vaddr = vma.start;
    });
  };
  await refused(d, move, 'IMAGE_INCONSISTENT', /pages at 0x[0-9a-f]+ lie outside every private or anonymous mapping/);
  assert.deepEqual(readFileSync(shared), before);
});

test('a working directory that is a symbolic link now, a root that is a regular file: refused before anything starts', async () => {
  const d = await dumped('rt-files-fs');
  const { lnk } = plantLink(d, 'cwd-lnk', 'cwd-victim');
  await refused(d, editReg('/sub/dir', (r) => { r.name = lnk; }), 'UNSAFE', /cwd-lnk \(the working directory\): \S+cwd-lnk is a symbolic link, which the dump did not see/);
  const file = path.join(d.target.dir, 'not-a-dir');
  writeFileSync(file, 'x');
  await refused(d, (dir) => editImage(dir, 'files.img', (files) => {
    const fs = entries(dir, `fs-${d.pid}.img`)[0]!;
    (files.find((f) => f.id === fs.root_id)!.reg as MessageValue).name = file;
  }), 'FILE_CHANGED', /not-a-dir \(the root directory\) is now a regular file, it was a directory at dump time/);
});

// ---------------------------------------------------------------- found by the fuzzer (test/fuzz)

test('overlapping or unaligned mappings: refused before anything starts, naming the mapping', async () => {
  const d = await dumped('rt-files-ghost');
  const mm = `mm-${d.pid}.img`;
  const vmas = (dir: string, fn: (v: MessageValue[]) => void) => editImage(dir, mm, ([m]) => fn(m!.vmas as MessageValue[]));
  // The fuzzer's case: a mapping starting where an earlier one starts (preflight's page check threw a TypeError).
  await refused(d, (dir) => vmas(dir, (v) => { v[5]!.start = v[1]!.start; }), 'IMAGE_INCONSISTENT', /mm-\d+\.img: the mapping 0x[0-9a-f]+-0x[0-9a-f]+ overlaps the mapping before it/);
  await refused(d, (dir) => vmas(dir, (v) => { v[2]!.end = BigInt(v[2]!.end as bigint) - 1n; }), 'IMAGE_INCONSISTENT', /is not made of whole 4096-byte pages/);
  await refused(d, (dir) => vmas(dir, (v) => { v[3]!.end = v[3]!.start; }), 'IMAGE_INCONSISTENT', /is empty or ends before it starts/);
});

test('an image file holding another kind of image: refused naming both kinds', async () => {
  const d = await dumped('rt-files-ghost');
  // The fuzzer's case: ids-PID.img replaced by a pagemap (loading the tree threw a plain Error).
  await refused(d, (dir) => copyFileSync(path.join(dir, `pagemap-${d.pid}.img`), path.join(dir, `ids-${d.pid}.img`)), 'IMAGE_CORRUPT',
    /ids-\d+\.img holds a PAGEMAP image, not the IDS image its name says/);
});

test('a file name with a newline: the refusal stays one line, the newline escaped', async () => {
  const d = await dumped('rt-files-ghost');
  // The fuzzer's case: "NAME\nsecond line (fd 3) cannot be found" printed on two lines.
  await refused(d, editReg('/rt-files-ghost', (r) => { r.name = `${String(r.name)}\nsecond line`; }), 'FILE_MISSING',
    /rt-files-ghost\\nsecond line \(the executable\) cannot be found/);
});

test('a deleted file of a size no file can have: refused before anything starts', async () => {
  const d = await dumped('rt-files-ghost');
  // The fuzzer's case (seed 15, cases 7702 and 9827): a chunked ghost's size 2^64-1 threw a RangeError from ftruncate.
  const chunked = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('ghost-file-'))
    .find((n) => decodeImageFile(path.join(dir, n)).entries[0]!.value.chunks === true)!;
  for (const size of [0xffff_ffff_ffff_ffffn, 0x8000_0000_0000_0000n]) {
    await refused(d, (dir) => editImage(dir, chunked(dir), ([g]) => { g!.size = size; }), 'IMAGE_INCONSISTENT',
      new RegExp(`ghost-file-\\d+\\.img: the deleted file \\S+ \\(fd \\d+\\) has size ${size}, which no file can have`));
  }
});

test('a thread\'s damaged registers, signal actions no task can have, a soft limit above its hard one: refused before anything starts', async () => {
  const d = await dumped('rt-threads');
  const other = (dir: string) => readdirSync(dir).find((n) => /^core-\d+\.img$/.test(n) && n !== `core-${d.pid}.img`)!;
  const tiOf = (core: MessageValue) => core[Object.keys(core).find((k) => k === 'thread_info' || k.startsWith('ti_'))!] as MessageValue;
  // The fuzzer's cases (seed 15) that failed after the point of no return: a thread's registers
  // were only decoded when its frame was built, the actions and limits only when they were set.
  // The first register array of the thread's registers (x86_64's st_space, aarch64's regs, ...) emptied.
  const emptyFirstArray = (m: MessageValue): boolean => Object.values(m).some((v) => v !== null && typeof v === 'object' && !(v instanceof Uint8Array)
    && (Array.isArray(v) ? v.length > 0 && typeof v[0] !== 'object' && (v.length = 0, true) : emptyFirstArray(v as MessageValue)));
  await refused(d, (dir) => editImage(dir, other(dir), ([c]) => { assert.ok(emptyFirstArray(tiOf(c!))); }), 'IMAGE_INCONSISTENT', /^core-\d+\.img: \S/);
  const tcOf = (dir: string, fn: (tc: MessageValue) => void) => editImage(dir, `core-${d.pid}.img`, ([c]) => fn(c!.tc as MessageValue));
  await refused(d, (dir) => tcOf(dir, (tc) => { (tc.sigactions as MessageValue[]).push({ sigaction: 0n, flags: 0n, restorer: 0n, mask: 0n }); }), 'IMAGE_INCONSISTENT',
    /^core-\d+\.img has 63 signal actions, want 62$/);
  await refused(d, (dir) => tcOf(dir, (tc) => { (tc.sigactions as MessageValue[])[9]!.compat_sigaction = true; }), 'IMAGE_INCONSISTENT',
    /^core-\d+\.img: signal 11 has a 32-bit handler in a \S+ process$/);
  await refused(d, (dir) => tcOf(dir, (tc) => {
    const nofile = ((tc.rlimits as MessageValue).rlimits as MessageValue[])[7]!;
    nofile.cur = BigInt(nofile.max as bigint) + 1n;
  }), 'IMAGE_INCONSISTENT', /^core-\d+\.img: resource limit 7 has soft limit \d+ above its hard limit \d+$/);
});
