// Pipes with queued data come back: the `single` fixture's images are extended
// with a pipe (read end fd 5, non-blocking write end fd 7, close-on-exec) that
// holds data in pipes-data.img, as CRIU writes it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile, encodeImage } from '../../src/images/index.js';
import { restore } from '../../src/restore/index.js';
import { pidfdGetfd, pidfdOpen } from '../../src/sys/index.js';
import { fixturesDir } from '../helpers/paths.js';
import { becomeSubreaper, copyImages, FIXTURE_DIR, nothingLeftBehind, prepareSingleFixture } from '../helpers/restore-env.js';
import { onlyOn } from '../helpers/arch-only.js';
import { fixtureCpuSkip } from '../helpers/cpu.js';

const skip = onlyOn(['x64'], 'fixtures dumped on x86_64');

const PID = 18187;
const PIPE_ID = 4242;
const DATA = Buffer.from('bytes queued in the pipe at dump time\n'.repeat(300)); // > one scratch chunk
const O_WRONLY = 1, O_NONBLOCK = 0o4000;

becomeSubreaper();

function addPipe(dir: string): void {
  const fown = { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 };
  const files = decodeImageFile(path.join(dir, 'files.img'));
  const def = files.entries[0]!.def;
  files.entries.push({ def, value: { type: 'PIPE', id: 10, pipe: { id: 10, pipe_id: PIPE_ID, flags: 0, fown } } });
  files.entries.push({ def, value: { type: 'PIPE', id: 11, pipe: { id: 11, pipe_id: PIPE_ID, flags: O_WRONLY | O_NONBLOCK, fown } } });
  writeFileSync(path.join(dir, 'files.img'), encodeImage(files));
  const fdinfo = decodeImageFile(path.join(dir, 'fdinfo-2.img'));
  const fdef = fdinfo.entries[0]!.def;
  fdinfo.entries.push({ def: fdef, value: { id: 10, flags: 0, type: 'PIPE', fd: 5 } });
  fdinfo.entries.push({ def: fdef, value: { id: 11, flags: 1, type: 'PIPE', fd: 7 } });
  writeFileSync(path.join(dir, 'fdinfo-2.img'), encodeImage(fdinfo));
  // A real pipes-data.img (from the tree fixture) with our pipe and data in it.
  const pd = decodeImageFile(path.join(fixturesDir, 'tree', 'pipes-data.img'));
  const entry = { ...pd.entries[0]!, value: { pipe_id: PIPE_ID, bytes: DATA.length, size: 65536 }, extra: DATA };
  writeFileSync(path.join(dir, 'pipes-data.img'), encodeImage({ magic: pd.magic, entries: [entry] }));
}

test('a pipe with queued data, both ends, flags and close-on-exec', { skip: skip || fixtureCpuSkip('single') }, async () => {
  prepareSingleFixture();
  const dir = copyImages('single');
  addPipe(dir);
  const r = await restore({ dir });
  try {
    const ino = (fd: number) => statSync(`/proc/${PID}/fd/${fd}`).ino;
    assert.equal(ino(5), ino(7), 'both ends are one pipe');
    const flags = (fd: number) => parseInt(/flags:\s+(\d+)/.exec(readFileSync(`/proc/${PID}/fdinfo/${fd}`, 'utf8'))![1]!, 8);
    assert.equal(flags(5) & 0o2004003, 0, 'read end: O_RDONLY, blocking, no close-on-exec');
    assert.equal(flags(7) & 0o2004003, 0o2004001, 'write end: O_WRONLY | O_NONBLOCK | O_CLOEXEC');
    const pidfd = pidfdOpen(PID);
    const fd = pidfdGetfd(pidfd, 5);
    const buf = Buffer.alloc(DATA.length + 10);
    let got = 0;
    while (got < DATA.length) got += readSync(fd, buf, got, buf.length - got, null);
    closeSync(fd);
    closeSync(pidfd);
    assert.deepEqual(buf.subarray(0, got), DATA);
    process.kill(PID, 'SIGTERM');
    assert.deepEqual(await r.wait!(), { code: 0, signal: null });
    assert.equal(readFileSync(`${FIXTURE_DIR}/single.out`, 'utf8').trim(), 'PASS');
  } finally {
    try { process.kill(PID, 'SIGKILL'); } catch { /* gone */ }
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(nothingLeftBehind(PID), undefined);
});
