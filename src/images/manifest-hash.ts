/**
 * The hashes of cryo-manifest.img: BLAKE3-256, what a dump writes, and SHA-256, what manifests
 * written before it hold (still read and checked). Each manifest entry names its algorithm by the
 * field its digests are in. Both are computed by the addon (BLAKE3 by its official C code with the
 * CPU's SIMD, SHA-256 by Node's OpenSSL), whole pieces per call and no JavaScript per piece.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { DIGEST_BLAKE3, DIGEST_SHA256, native } from '../sys/native.js';

/** A manifest's hash algorithm: the name of the entry's field that holds its digests. */
export type HashAlg = 'blake3' | 'sha256';
/** What a dump writes. */
export const MANIFEST_HASH: HashAlg = 'blake3';
/** Every algorithm's digest length. */
export const DIGEST = 32;

/** For messages: `(BLAKE3)`. */
export const HASH_NAME: Readonly<Record<HashAlg, string>> = { blake3: 'BLAKE3', sha256: 'SHA-256' };
/** The addon's number of each algorithm. */
export const HASH_NUMBER: Readonly<Record<HashAlg, number>> = { blake3: DIGEST_BLAKE3, sha256: DIGEST_SHA256 };

/** The digest of `bytes` by `alg`. */
export function digestOf(alg: HashAlg, bytes: Uint8Array): Buffer {
  if (alg === 'sha256') return createHash('sha256').update(bytes).digest();
  const d = native().digest(DIGEST_BLAKE3, bytes);
  if (d === undefined) throw new Error('the native addon computes no BLAKE3: rebuild it (npm run build)');
  return d;
}

/** A stretch of an image hashed alone; vaddr where it holds pages. */
export interface Piece { offset: number; length: number; vaddr?: bigint }

/** Bytes hashed per call of the addon: a stop after a difference wastes at most this much. */
const NATIVE_BATCH = 64 << 20;

/** Whether `pieces` lie back to back (what the addon hashes). */
const consecutive = (pieces: readonly Piece[]) => pieces.every((p, i) => i === 0 || p.offset === pieces[i - 1]!.offset + pieces[i - 1]!.length);

/** hashPieces by the addon; false, having hashed nothing, where it cannot (SHA-256 in a Node without SHA256()). */
function hashNatively(alg: HashAlg, fd: number, pieces: readonly Piece[], each: (i: number, digest: Buffer) => boolean): boolean {
  if (!consecutive(pieces)) return false;
  const digestPieces = native().digestPieces;
  for (let i = 0; i < pieces.length;) {
    let j = i + 1;
    for (let bytes = pieces[i]!.length; j < pieces.length && bytes + pieces[j]!.length <= NATIVE_BATCH; j++) bytes += pieces[j]!.length;
    const lengths = Uint32Array.from(pieces.slice(i, j), (p) => p.length);
    const out = Buffer.allocUnsafe(lengths.length * DIGEST);
    const got = digestPieces(HASH_NUMBER[alg], fd, pieces[i]!.offset, lengths, out);
    if (got < 0) return false; // known at the first call, before any digest
    for (let k = 0; k < lengths.length; k++) {
      // A piece past the file's end gets no digest, as in hashPieces.
      if (!each(i + k, k < got ? out.subarray(k * DIGEST, (k + 1) * DIGEST) : Buffer.alloc(0))) return true;
    }
    i = j;
  }
  return true;
}

/** Reads `file` piece by piece (in order) and calls `each` with every piece's digest by `alg`; stops when it returns false. */
export function hashPieces(file: string, alg: HashAlg, pieces: readonly Piece[], each: (i: number, digest: Buffer) => boolean): void {
  const fd = openSync(file, 'r');
  try {
    if (hashNatively(alg, fd, pieces, each)) return;
    const max = pieces.reduce((m, p) => Math.max(m, p.length), 0);
    // Read ahead in big reads; hash each piece from the buffer.
    const buf = Buffer.allocUnsafe(Math.max(max, 4 << 20));
    let bufStart = 0;
    let bufLen = 0;
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (p.offset < bufStart || p.offset + p.length > bufStart + bufLen) {
        bufStart = p.offset;
        bufLen = 0;
        while (bufLen < buf.length) {
          const n = readSync(fd, buf, bufLen, buf.length - bufLen, bufStart + bufLen);
          if (n === 0) break;
          bufLen += n;
        }
      }
      const from = p.offset - bufStart;
      const data = buf.subarray(from, Math.min(from + p.length, bufLen));
      if (!each(i, data.length === p.length ? digestOf(alg, data) : Buffer.alloc(0))) return;
    }
  } finally {
    closeSync(fd);
  }
}
