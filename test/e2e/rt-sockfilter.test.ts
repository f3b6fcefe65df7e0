// A classic BPF socket filter (SO_ATTACH_FILTER), as zdtm's sock_filter00/01: test/programs/
// rt-sockfilter.c attaches a filter that keeps 4-byte UDP datagrams only. The dump keeps its
// instructions in sk_opts.so_filter (one u64 each, as CRIU); after the restore SO_GET_FILTER gives
// them back and the filter still drops a 5-byte datagram. An edited instruction fails the check.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));
let d: Dumped;
const filtered = (es: MessageValue[]) => es.map((f) => f.isk as MessageValue | undefined).find((i) => ((i?.opts as MessageValue | undefined)?.so_filter as unknown[] | undefined)?.length)!;

test('a socket filter: dumped as its instructions, attached again, still filtering', async () => {
  d = await startAndDump('rt-sockfilter');
  all.push(d);
  const isk = filtered(decodeImageFile(path.join(d.images, 'files.img')).entries.map((e) => e.value));
  assert.equal(((isk.opts as MessageValue).so_filter as unknown[]).length, 4);
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited image: a changed filter instruction fails the check', async () => {
  const edited = await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (es) => {
    const f = (filtered(es).opts as MessageValue).so_filter as bigint[];
    f[3] = f[2]!; // "drop" becomes a second "keep"
  }));
  assert.match(edited, /^FAIL: filter instruction 3 is/);
});
