// Descriptors in flight in unix socket queues (SCM_RIGHTS), as a server hands connections to its
// workers: test/programs/rt-scm.c queues a pipe end, a file at an offset and an eventfd held by
// no descriptor, and a pipe end the task still holds, on a datagram and a stream socketpair. The
// dump writes them as scm entries naming file ids (one shared with the held descriptor); the
// restored task receives each and checks it is that file. An edited image fails the check.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
let d: Dumped;

test('descriptors in flight in unix queues: dumped as scm entries, received after restore as the same files', async () => {
  d = await startAndDump('rt-scm');
  all.push(d);
  const queued = entries(d.images, 'sk-queues.img');
  const rights = queued.map((q) => ((q.scm as MessageValue[] | undefined) ?? []).flatMap((m) => (m.rights as number[]).map(Number)));
  assert.deepEqual(rights.map((r) => r.length), [1, 1, 1, 2]);
  const fdinfo = entries(d.images, readdirSync(d.images).find((n) => /^fdinfo-\d+\.img$/.test(n))!);
  const w = Number(d.target.ready.w);
  assert.equal(rights[2]![0], Number(fdinfo.find((f) => Number(f.fd) === w)!.id), 'the held write end has its descriptor\'s file id');
  const files = entries(d.images, 'files.img');
  assert.deepEqual([rights[0]![0], rights[1]![0], ...rights[3]!].map((id) => String(files.find((f) => Number(f.id) === id)!.type)), ['PIPE', 'REG', 'PIPE', 'EVENTFD']);
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited image: the file in flight at another offset fails the check', async () => {
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (es) => {
    const reg = es.find((f) => f.type === 'REG' && String((f.reg as MessageValue).name).endsWith('/f'))!.reg as MessageValue;
    reg.pos = 5n;
  })), /^FAIL: the file in flight is at offset 5, want 3/);
});
