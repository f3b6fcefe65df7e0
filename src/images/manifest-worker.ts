// Checking deferred images of a dump against cryo-manifest.img on another thread, so a restore
// goes on meanwhile (see ./cryo-manifest.ts): the addon's hasher thread (and the waiting thread),
// else the addon on libuv's thread pool, or, for SHA-256 in a Node without SHA256 for the addon,
// a worker thread (which costs ~30 ms of CPU to start).
import { closeSync, openSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { native, type NativeAddon } from '../sys/native.js';
import { errnoName } from '../sys/errno.js';
import { differs, digestBlock, firstDigestDifference, type DeferredImage } from './cryo-manifest.js';
import { HASH_AHEAD_MAX_PIECE, HashAhead } from './hash-ahead.js';
import { HASH_NUMBER, type HashAlg } from './manifest-hash.js';

/** Digests hashed per call (the thread-pool job a stop() waits for at most). */
const CHUNK_BYTES = 64 << 20;

// The worker is a script of node's own modules, so it runs the same from dist/ and from the bundle.
// It is for SHA-256 manifests in a Node whose OpenSSL the addon does not find: createHash per piece.
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
const bad = [];
for (const [j, job] of workerData.images.entries()) {
  const fd = openSync(job.file, 'r');
  const digests = Buffer.from(job.digests.buffer, job.digests.byteOffset, job.digests.length);
  try {
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

type AsyncDigest = NativeAddon['digestPiecesAsync'];

/** The index of image's first piece that differs, -1 when none does, or why it could not be read; undefined: `alg` cannot be computed. */
async function firstBad(sha: AsyncDigest, alg: HashAlg, file: string, lengths: readonly number[], digests: Buffer, stopped: () => boolean): Promise<number | string | undefined> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    return (e as Error).message;
  }
  try {
    for (let i = 0, off = 0; i < lengths.length;) {
      if (stopped()) return 'the check was stopped';
      let j = i + 1;
      for (let bytes = lengths[i]!; j < lengths.length && bytes + lengths[j]! <= CHUNK_BYTES; j++) bytes += lengths[j]!;
      const out = Buffer.allocUnsafe((j - i) * 32);
      const [err, got] = await new Promise<[number, number]>((resolve) => {
        if (sha(HASH_NUMBER[alg], fd, off, Uint32Array.from(lengths.slice(i, j)), out, (e, n) => resolve([e, n])) < 0) resolve([-1, 0]);
      });
      if (err < 0) return undefined;
      if (err > 0) return `pread failed: ${errnoName(err)}`;
      for (let k = 0; k < j - i; k++) {
        if (k >= got || !out.subarray(k * 32, k * 32 + 32).equals(digests.subarray((i + k) * 32, (i + k + 1) * 32))) return i + k;
      }
      for (; i < j; i++) off += lengths[i]!;
    }
    return -1;
  } finally {
    closeSync(fd);
  }
}

/** Every image on the thread pool, one after another: one line per image that differs; undefined where an algorithm cannot be computed. */
async function checkOnThreadPool(sha: AsyncDigest, images: readonly DeferredImage[], stopped: () => boolean): Promise<string[] | undefined> {
  const bad: string[] = [];
  for (const { file, entry } of images) {
    const first = await firstBad(sha, entry.alg, file, entry.pieces.map((p) => p.length), digestBlock(entry), stopped);
    if (first === undefined) return undefined;
    if (typeof first === 'string') bad.push(`${file} cannot be read: ${first}`);
    else if (first >= 0) bad.push(differs(file, entry.pieces[first]!, entry.alg));
  }
  return bad;
}

/**
 * Every image given to the addon's hasher thread at once (it hashes while restore builds the
 * task; the wait hashes the rest on the waiting thread too): one line per image that differs, in
 * the images' order; undefined where there is no hasher or it refuses the pieces.
 */
function onHasher(images: readonly DeferredImage[]): { check: () => string[]; stop: () => void } | undefined {
  const ahead = HashAhead.start();
  if (!ahead) return undefined;
  try {
    for (const { file, entry } of images) {
      const lengths = Uint32Array.from(entry.pieces, (p) => p.length);
      if (lengths.some((n) => n === 0 || n > HASH_AHEAD_MAX_PIECE)) throw new Error('a piece the hasher does not take');
      if (lengths.length > 0) ahead.add(ahead.file(file, HASH_NUMBER[entry.alg]), 0, lengths);
    }
  } catch {
    ahead.stop();
    return undefined; // an unreadable image (or SHA-256 without SHA256()) goes to the thread pool's check
  }
  const check = () => {
    try {
      const all = ahead.digests();
      const bad: string[] = [];
      let k = 0;
      for (const { file, entry } of images) {
        const first = firstDigestDifference(all.subarray(k * 32, (k + entry.pieces.length) * 32), digestBlock(entry));
        if (first >= 0) bad.push(differs(file, entry.pieces[first]!, entry.alg));
        k += entry.pieces.length;
      }
      return bad;
    } catch (e) {
      return [`the images could not be checked: ${(e as Error).message}`];
    } finally {
      ahead.stop();
    }
  };
  return { check, stop: () => ahead.stop() };
}

/** Hashes deferred images on another thread (the caller goes on); its result: one line per image that differs. */
export class ImagesInWorker {
  private worker: Worker | undefined;
  private stopped = false;
  private readonly hasher: { check: () => string[]; stop: () => void } | undefined;
  private pending: Promise<string[]> | undefined;
  constructor(images: readonly DeferredImage[]) {
    this.hasher = images.length === 0 ? undefined : onHasher(images);
    if (this.hasher) return;
    this.pending = images.length === 0 ? Promise.resolve([])
      : checkOnThreadPool(native().digestPiecesAsync, images, () => this.stopped).then((bad) => bad ?? this.inWorker(images));
  }

  /** One line per image that differs (on the hasher: waiting hashes the rest on this thread too). */
  get result(): Promise<string[]> {
    this.pending ??= Promise.resolve(this.stopped ? [] : this.hasher!.check());
    return this.pending;
  }

  private async inWorker(images: readonly DeferredImage[]): Promise<string[]> {
    if (this.stopped) return [];
    const { Worker } = await import('node:worker_threads');
    const data = images.map(({ file, entry }) => ({ file, lengths: entry.pieces.map((p) => p.length), digests: digestBlock(entry) }));
    if (images.some((i) => i.entry.alg !== 'sha256')) return ['the images could not be checked: the native addon computes no BLAKE3; rebuild it (npm run build)'];
    const worker = new Worker(WORKER, { eval: true, workerData: { images: data } });
    this.worker = worker;
    return new Promise<string[]>((resolve) => {
      worker.once('message', (bad: [number, number, string?][]) => resolve(bad.map(([j, i, err]) => {
        const { file, entry } = images[j]!;
        return i < 0 ? `${file} cannot be read: ${err}` : differs(file, entry.pieces[i]!, entry.alg);
      })));
      worker.once('error', (e) => resolve([`the images could not be checked: ${e.message}`]));
      worker.once('exit', (code) => resolve([`the images could not be checked: the checking thread ended (${code})`]));
    });
  }

  /** Stops hashing (a restore that failed first no longer waits for it). */
  stop(): void {
    this.stopped = true;
    this.hasher?.stop();
    void this.worker?.terminate();
  }
}
