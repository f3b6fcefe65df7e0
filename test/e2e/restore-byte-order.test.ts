// Images from a machine of the other byte order are refused before anything starts, naming it:
// a real dump made here, whose core image's framing (magics, entry sizes) is rewritten in the other
// order, as that machine's CRIU or cryo writes it. On x86_64 that is an s390x image; in the s390x
// guest (npm run test:arch -- s390x) a little-endian machine's. The unedited dump restores (PASS).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HOST_LITTLE_ENDIAN } from '../../src/sys/index.js';
import { cleanupDumped, imagesCopy, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { restoreTask } from '../helpers/cryo-ops.js';
import { nothingLeftBehind } from '../helpers/restore-env.js';

const dumps: Dumped[] = [];
after(() => dumps.forEach(cleanupDumped));

/** Rewrites the framing of a host-order image file in the other byte order (the payload is protobuf, the same everywhere). */
function swapFraming(file: string): void {
  const b = readFileSync(file);
  const read = (at: number) => (HOST_LITTLE_ENDIAN ? b.readUInt32LE(at) : b.readUInt32BE(at));
  const write = (at: number, v: number) => (HOST_LITTLE_ENDIAN ? b.writeUInt32BE(v, at) : b.writeUInt32LE(v, at));
  write(0, read(0));
  write(4, read(4));
  for (let at = 8; at < b.length;) {
    const size = read(at);
    write(at, size);
    at += 4 + size;
  }
  writeFileSync(file, b);
}

test('an image of the other byte order is refused before anything starts, naming it; the original restores', async () => {
  const d = await startAndDump('rt-task-rlimit');
  dumps.push(d);
  const dir = imagesCopy(d, (x) => swapFraming(path.join(x, `core-${d.pid}.img`)));
  const [other, mine] = HOST_LITTLE_ENDIAN ? ['big', 'little'] : ['little', 'big'];
  await assert.rejects(restoreTask({ dir }), (e: unknown) => {
    const lines = String((e as Error).message).split('\n');
    assert.equal(lines.length, 1, `one line: ${lines.join(' | ')}`);
    assert.match(lines[0]!, new RegExp(`core-${d.pid}\\.img was written on a ${other}-endian machine and this one \\(\\w+\\) is ${mine}-endian`));
    return true;
  });
  assert.equal(nothingLeftBehind(d.pid), undefined);
  assert.equal(await restoreAndFinish(d), 'PASS');
});
