// A deleted file's data is copied into the images only up to `cryo dump --ghost-limit` (CRIU's
// option and default, 1 MiB; its blocks count, holes do not): test/programs/rt-files-ghost-limit.c
// holds 1280 KiB of data around a 1 GiB hole. The dump refuses it in one line naming the file,
// its data and the option, and the task runs on; with the limit at its data exactly it is dumped
// and comes back whole (an edited byte of the image shows the check looks).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile, encodeImage } from '../../src/images/index.js';
import { __WALL, waitpid } from '../../src/sys/index.js';
import { runCryo } from '../helpers/cryo-cli.js';
import { startTarget, type Target } from '../helpers/dump-target.js';
import { becomeSubreaper, waitGone } from '../helpers/restore-env.js';
import { restoreAndFinish } from '../helpers/round-trip.js';

becomeSubreaper();
let target: Target | undefined;
after(() => target?.cleanup());

/** `cryo dump` of the target with `extra`; its exit code and error line. */
function dumpCli(t: Target, images: string, extra: string[]): { status: number | null; err: string } {
  const r = runCryo(['dump', '-t', String(t.pid), '-D', images, ...extra]);
  return { status: r.status, err: r.stderr.toString().trim() };
}

test('a deleted file with more data than --ghost-limit is refused at dump (the task runs on); with the limit raised it comes back', async () => {
  const t = target = startTarget('rt-files-ghost-limit');
  const data = BigInt(t.ready.data!);
  assert.ok(data > 1n << 20n && data < 2n << 20n, `its data (${data} bytes) is over 1 MiB`);
  const images = path.join(t.dir, 'images');
  const file = path.join(t.dir, 'holey');

  const refused = dumpCli(t, images, []);
  assert.equal(refused.status, 1, refused.err);
  assert.equal(refused.err.split('\n').length, 1, `one line: ${refused.err}`);
  const kib = data % 1024n === 0n ? `${data / 1024n}K` : String(data);
  assert.match(refused.err, new RegExp(`the deleted file ${file} holds ${kib} of data \\(size ${(1280n << 10n) + (1n << 30n)}\\), more than the ghost limit of 1M that a dump copies: dump with --ghost-limit 2M to copy it`));
  assert.ok(existsSync(`/proc/${t.pid}`), 'the refused task runs on');
  // One byte under its data is too little: what counts is the data, not the 1 GiB size.
  assert.match(dumpCli(t, images, ['--ghost-limit', String(data - 1n)]).err, /more than the ghost limit of \d+ that a dump copies/);
  const bad = dumpCli(t, images, ['--ghost-limit', '1.5M']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.err, /--ghost-limit 1\.5M: give a size in bytes, or with K, M or G/);
  assert.ok(existsSync(`/proc/${t.pid}`), 'the task still runs');

  const dumped = dumpCli(t, images, ['--ghost-limit', String(data)]);
  assert.equal(dumped.status, 0, dumped.err);
  waitpid(t.pid, __WALL); // the dump killed it: collect it (this test is its parent)
  assert.ok(waitGone(t.pid));
  const ghost = readdirSync(images).find((n) => /^ghost-file-\d+\.img$/.test(n))!;
  assert.equal(decodeImageFile(path.join(images, ghost)).entries[0]!.value.chunks, true, 'written as chunks, the hole left out');

  const d = { target: t, pid: t.pid, images, readyLine: readFileSync(t.outFile, 'utf8').split('\n')[0]! };
  assert.equal(await restoreAndFinish(d), 'PASS');
  // The last byte of the second run of data, edited in the image.
  const edited = await restoreAndFinish(d, (dir) => {
    const img = decodeImageFile(path.join(dir, ghost));
    const last = img.entries.at(-1)!;
    const extra = Buffer.concat([(last.extra as Buffer).subarray(0, -1), Buffer.from('#')]);
    writeFileSync(path.join(dir, ghost), encodeImage({ ...img, entries: [...img.entries.slice(0, -1), { ...last, extra }] }));
  });
  assert.match(edited, new RegExp(`^FAIL: fd 4 byte ${(1n << 30n) + (1280n << 10n) - 1n} is 35, want \\d+`));
});
