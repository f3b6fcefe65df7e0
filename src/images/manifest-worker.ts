// Checking deferred images of a dump against cryo-manifest.img on a thread of their own, so a
// restore goes on meanwhile (see ./cryo-manifest.ts).
import { Worker } from 'node:worker_threads';
import { findAddon } from '../sys/native.js';
import { differs, type DeferredImage } from './cryo-manifest.js';

// The worker is a script of node's own modules (and the addon, by its file name), so it runs the same from dist/ and from the bundle.
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
// The addon's OpenSSL SHA256 hashes many pieces per call (64 MiB, so terminate() is heard); else one createHash per piece.
let sha;
try { sha = require(workerData.addon).sha256Pieces; } catch { sha = undefined; }
function firstBadNatively(fd, lengths, digests) {
  for (let i = 0, off = 0; i < lengths.length;) {
    let j = i + 1;
    for (let bytes = lengths[i]; j < lengths.length && bytes + lengths[j] <= 64 << 20; j++) bytes += lengths[j];
    const out = Buffer.allocUnsafe((j - i) * 32);
    const got = sha(fd, off, Uint32Array.from(lengths.slice(i, j)), out);
    if (got < 0) return undefined;
    for (let k = 0; k < j - i; k++) {
      if (k >= got || !out.subarray(k * 32, k * 32 + 32).equals(digests.subarray((i + k) * 32, (i + k + 1) * 32))) return i + k;
    }
    for (; i < j; i++) off += lengths[i];
  }
  return -1;
}
const bad = [];
for (const [j, job] of workerData.images.entries()) {
  const fd = openSync(job.file, 'r');
  const digests = Buffer.from(job.digests.buffer, job.digests.byteOffset, job.digests.length);
  try {
    const first = sha && firstBadNatively(fd, job.lengths, digests);
    if (first !== undefined) {
      if (first >= 0) bad.push([j, first]);
      continue;
    }
    const buf = Buffer.allocUnsafe(job.lengths.reduce((m, n) => Math.max(m, n), 1));
    for (let i = 0, off = 0; i < job.lengths.length; off += job.lengths[i], i++) {
      const n = readSync(fd, buf, 0, job.lengths[i], off);
      const want = digests.subarray(i * 32, i * 32 + 32);
      if (n !== job.lengths[i] || !createHash('sha256').update(buf.subarray(0, n)).digest().equals(want)) { bad.push([j, i]); break; }
    }
  } catch (e) {
    bad.push([j, -1, String(e && e.message)]);
  } finally {
    closeSync(fd);
  }
}
parentPort.postMessage(bad);
`;

/** Hashes deferred images on a thread of their own (the caller goes on); its result: one line per image that differs. */
export class ImagesInWorker {
  private readonly worker: Worker | undefined;
  readonly result: Promise<string[]>;
  constructor(images: readonly DeferredImage[]) {
    if (images.length === 0) {
      this.result = Promise.resolve([]);
      return;
    }
    const data = images.map(({ file, entry }) => ({ file, lengths: entry.pieces.map((p) => p.length), digests: Buffer.concat(entry.digests) }));
    const worker = new Worker(WORKER, { eval: true, workerData: { images: data, addon: findAddon() } });
    this.worker = worker;
    this.result = new Promise<string[]>((resolve) => {
      worker.once('message', (bad: [number, number, string?][]) => resolve(bad.map(([j, i, err]) => {
        const { file, entry } = images[j]!;
        return i < 0 ? `${file} cannot be read: ${err}` : differs(file, entry.pieces[i]!);
      })));
      worker.once('error', (e) => resolve([`the images could not be checked: ${e.message}`]));
      worker.once('exit', (code) => resolve([`the images could not be checked: the checking thread ended (${code})`]));
    });
  }

  /** Ends the thread (a restore that failed first no longer waits for it). */
  stop(): void {
    void this.worker?.terminate();
  }
}
