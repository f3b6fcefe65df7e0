// Every dump writes cryo-manifest.img (the BLAKE3 of every image, pages images by page run) last;
// restore checks it before anything starts and refuses an altered, cut, missing or extra image in
// one line naming the image and the bytes (and page run) that differ; `cryo check-images DIR` says
// the same alone. test/programs/rt-mem.c is dumped once; each case edits its own copy.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, cpSync, existsSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { CRYO_MANIFEST_IMAGE, CRYO_MANIFEST_MAGIC, cryo_manifest_entry, readManifest } from '../../src/images/cryo-manifest.js';
import { writeCryoImage } from '../../src/images/cryo-framing.js';
import type { MessageValue } from '../../src/images/value.js';
import { PageReader } from '../../src/images/index.js';
import { dumpedByteAt, PAGE_SIZE } from '../helpers/dumped-memory.js';
import { restoreTask } from '../helpers/cryo-ops.js';
import { runCryo } from '../helpers/cryo-cli.js';
import { nothingLeftBehind } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

let d: Dumped | undefined;
after(() => d && cleanupDumped(d));
const dumped = async (): Promise<Dumped> => (d ??= await startAndDump('rt-mem'));

/** A copy of the dump, edited by `edit` (and not sealed again). */
function copyOf(dd: Dumped, edit: (dir: string) => void): string {
  const dir = mkdtempSync(path.join(dd.target.dir, 'edited-'));
  cpSync(dd.images, dir, { recursive: true });
  edit(dir);
  return dir;
}

/** Restore of `dir` must be refused leaving nothing behind; returns the error line. */
async function refused(dd: Dumped, dir: string): Promise<string> {
  const err = await restoreTask({ dir }).then(() => undefined, (e: Error) => e.message);
  const left = nothingLeftBehind(dd.pid);
  assert.equal(left, undefined, `a refused restore left something behind: ${left}`);
  assert.ok(err !== undefined, 'the altered dump was restored');
  assert.ok(!err.includes('\n'), 'one line');
  return err;
}

function checkImages(dir: string): { status: number | null; out: string } {
  const r = runCryo(['check-images', dir]);
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function flip(file: string, offset: number): void {
  const fd = openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    b[0] ^= 0x20;
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

test('a dump writes a manifest (0600) of every image, pages images in pieces with their addresses; check-images says OK; crit still reads the directory', async () => {
  const dd = await dumped();
  const file = path.join(dd.images, CRYO_MANIFEST_IMAGE);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const m = readManifest(dd.images)!;
  const images = readdirSync(dd.images).filter((n) => (n.endsWith('.img') || n === 'stats-dump') && n !== CRYO_MANIFEST_IMAGE).sort();
  assert.ok(images.includes('stats-dump') && images.includes(`core-${dd.pid}.img`));
  assert.deepEqual(m.map((e) => e.name).sort(), images, 'every image, and only images, listed');
  for (const e of m) assert.equal(e.size, statSync(path.join(dd.images, e.name)).size, `${e.name}: its size`);
  // The pages image: 256 KiB pieces, each at the address of its first page (from the page runs).
  const reader = new PageReader(path.join(dd.images, `pagemap-${dd.pid}.img`), undefined, PAGE_SIZE);
  const runs = [...reader].filter((r) => r.offset >= 0);
  const pages = m.find((e) => e.name === path.basename(reader.pagesPath))!;
  reader.close();
  assert.ok(pages.pieces.length > 1 && pages.pieces.slice(0, -1).every((p) => p.length === 256 * 1024));
  for (const p of pages.pieces) {
    const r = runs.find((x) => x.offset <= p.offset && p.offset < x.offset + x.nrPages * PAGE_SIZE)!;
    assert.equal(p.vaddr, r.vaddr + BigInt(p.offset - r.offset), `the piece at byte ${p.offset}: the address of its first page`);
  }
  const ok = checkImages(dd.images);
  assert.equal(ok.status, 0, ok.out);
  assert.match(ok.out, /^OK: \d+ images \(\d+ bytes\) are as the dump wrote them\n$/);
  // crit (Debian's, CRIU 3.17) reads the directory with cryo's image in it.
  if (existsSync('/usr/bin/crit')) {
    const ps = spawnSync('/usr/bin/crit', ['x', dd.images, 'ps'], { encoding: 'utf8' });
    assert.equal(ps.status, 0, ps.stderr);
    assert.match(ps.stdout, new RegExp(`\\b${dd.pid}\\b.*rt-mem`));
  }
  // The dump as written restores.
  assert.equal(await restoreAndFinish(dd), 'PASS');
});

test('a byte edited in a core image and in a page: restore refuses naming the image, the bytes and the page run; so does check-images', async () => {
  const dd = await dumped();
  const core = `core-${dd.pid}.img`;
  const coreDir = copyOf(dd, (dir) => flip(path.join(dir, core), 40));
  const at = 0;
  const coreErr = await refused(dd, coreDir);
  assert.match(coreErr, new RegExp(`(^|: )image altered since the dump: .*/${core}: bytes ${at}-\\d+ differ from what the dump wrote \\(BLAKE3\\); restore from an intact copy`));
  const c = checkImages(coreDir);
  assert.equal(c.status, 1);
  assert.match(c.out, new RegExp(`^.*/${core}: bytes ${at}-\\d+ differ from what the dump wrote \\(BLAKE3\\)\\n$`));

  // Page 3 of the anonymous area, byte 10: the piece holding it is named, with its address.
  const anon = BigInt(dd.target.ready.anon!) + 3n * BigInt(PAGE_SIZE) + 10n;
  const where = dumpedByteAt(dd.images, dd.pid, anon)!;
  const piece = readManifest(dd.images)!.find((e) => e.name === path.basename(where.file))!.pieces
    .find((p) => p.offset <= where.offset && where.offset < p.offset + p.length)!;
  const pageDir = copyOf(dd, (dir) => flip(path.join(dir, path.basename(where.file)), where.offset));
  const pageErr = await refused(dd, pageDir);
  const named = `${path.basename(where.file)}: bytes ${piece.offset}-${piece.offset + piece.length - 1} \\(pages from 0x${piece.vaddr!.toString(16)}\\) differ`;
  assert.match(pageErr, new RegExp(named));
  const p = checkImages(pageDir);
  assert.equal(p.status, 1);
  assert.match(p.out, new RegExp(named));
  // Three edits at once: check-images names each; restore the first and how many more it found
  // before it started (a large pages image is hashed while the task is built: named when its turn comes).
  const three = copyOf(dd, (dir) => {
    flip(path.join(dir, core), 40);
    flip(path.join(dir, `mm-${dd.pid}.img`), 40);
    flip(path.join(dir, path.basename(where.file)), where.offset);
  });
  assert.equal(checkImages(three).out.trim().split('\n').length, 3);
  assert.match(await refused(dd, three), new RegExp(`/${core}: bytes 0-\\d+ differ .*\\(and [12] more: cryo check-images `));
});

/**
 * DIR's manifest as cryo wrote it before BLAKE3: the same pieces, their SHA-256 (by Node's
 * crypto, not cryo's addon) in field 4, `sha256`.
 */
function asSha256Manifest(dir: string): void {
  const entries = readManifest(dir)!.map((e): MessageValue => {
    if (e.elsewhere) return { name: e.name, size: BigInt(e.size), elsewhere: true };
    const fd = openSync(path.join(dir, e.name), 'r');
    try {
      const sha256 = Buffer.concat(e.pieces.map((p) => {
        const b = Buffer.alloc(p.length);
        readSync(fd, b, 0, p.length, p.offset);
        return createHash('sha256').update(b).digest();
      }));
      const v: MessageValue = { name: e.name, size: BigInt(e.size), lengths: e.pieces.map((p) => p.length), sha256 };
      if (e.pieces.some((p) => p.vaddr !== undefined)) v.vaddrs = e.pieces.map((p) => p.vaddr ?? 0n);
      return v;
    } finally {
      closeSync(fd);
    }
  });
  writeCryoImage(path.join(dir, CRYO_MANIFEST_IMAGE), CRYO_MANIFEST_MAGIC, cryo_manifest_entry, entries);
}

test('a dump whose manifest is SHA-256 (cryo before BLAKE3) is checked: check-images says OK, an edited page is refused naming it, the dump restores', async () => {
  const dd = await dumped();
  const old = copyOf(dd, asSha256Manifest);
  assert.ok(readManifest(old)!.every((e) => e.elsewhere || e.alg === 'sha256'), 'every entry read as SHA-256');
  const ok = checkImages(old);
  assert.equal(ok.status, 0, ok.out);
  const anon = BigInt(dd.target.ready.anon!) + 3n * BigInt(PAGE_SIZE) + 10n;
  const where = dumpedByteAt(dd.images, dd.pid, anon)!;
  const edited = copyOf(dd, (dir) => {
    asSha256Manifest(dir);
    flip(path.join(dir, path.basename(where.file)), where.offset);
  });
  const named = new RegExp(`${path.basename(where.file)}: bytes \\d+-\\d+ \\(pages from 0x[0-9a-f]+\\) differ from what the dump wrote \\(SHA-256\\)`);
  assert.match(await refused(dd, edited), named);
  assert.match(checkImages(edited).out, named);
  assert.equal(await restoreAndFinish(dd, asSha256Manifest), 'PASS');
});

test('an image deleted, cut short or added, and a damaged manifest, are refused; without a manifest the dump restores as CRIU\'s do', async () => {
  const dd = await dumped();
  const deleted = copyOf(dd, (dir) => rmSync(path.join(dir, `fs-${dd.pid}.img`)));
  assert.match(await refused(dd, deleted), new RegExp(`/fs-${dd.pid}\\.img is missing \\(the dump wrote it: \\d+ bytes\\)`));
  assert.match(checkImages(deleted).out, new RegExp(`/fs-${dd.pid}\\.img is missing`));

  const pages = readManifest(dd.images)!.find((e) => /^pages-\d+\.img$/.test(e.name))!;
  const cut = copyOf(dd, (dir) => truncateSync(path.join(dir, pages.name), pages.size - PAGE_SIZE));
  assert.match(await refused(dd, cut), new RegExp(`/${pages.name} has ${pages.size - PAGE_SIZE} bytes, the dump wrote ${pages.size}: it was cut short at byte ${pages.size - PAGE_SIZE}`));

  const added = copyOf(dd, (dir) => copyFileSync(path.join(dir, `core-${dd.pid}.img`), path.join(dir, 'core-1.img')));
  assert.match(await refused(dd, added), /\/core-1\.img is not in cryo-manifest\.img: the dump did not write it/);

  const damaged = copyOf(dd, (dir) => truncateSync(path.join(dir, CRYO_MANIFEST_IMAGE), statSync(path.join(dir, CRYO_MANIFEST_IMAGE)).size - 3));
  assert.match(await refused(dd, damaged), /cryo-manifest\.img is damaged \(.*\): the images cannot be checked; dump again/);
  assert.equal(checkImages(damaged).status, 1);

  // No manifest (a dump by CRIU, or an older cryo): not checked, restored as before; check-images cannot check it.
  const none = (dir: string) => rmSync(path.join(dir, CRYO_MANIFEST_IMAGE));
  const n = checkImages(copyOf(dd, none));
  assert.equal(n.status, 2);
  assert.match(n.out, /has no cryo-manifest\.img \(a dump by CRIU or an older cryo\): nothing to check it against/);
  assert.equal(await restoreAndFinish(dd, none), 'PASS');
});
