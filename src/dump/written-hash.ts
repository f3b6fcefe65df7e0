/**
 * The manifest's digests of an image cryo writes whole (ImageSet.write), hashed from its bytes on
 * their way to the file: the manifest then reads back only what it has no digests for (a tree of
 * 50 has ~350 small images; reading each back cost ~0.2 ms). Pieces as the manifest's (BLOCK).
 */
import { BLOCK, MANIFEST_HASH, type HashedAhead } from '../images/cryo-manifest.js';
import { digestOf } from '../images/manifest-hash.js';

export class HashedAsWritten implements HashedAhead {
  readonly alg = MANIFEST_HASH;
  private readonly done: Buffer[] = [];
  /** The bytes of the piece not yet whole. */
  private readonly part = Buffer.allocUnsafe(BLOCK);
  private partLen = 0;
  private bytes = 0;
  private ended = false;

  /** The next bytes of the file (FileSink's `seen`). */
  readonly add = (b: Uint8Array): void => {
    this.bytes += b.length;
    let off = 0;
    if (this.partLen > 0) {
      off = Math.min(BLOCK - this.partLen, b.length);
      this.part.set(b.subarray(0, off), this.partLen);
      this.partLen += off;
      if (this.partLen < BLOCK) return;
      this.done.push(digestOf(this.alg, this.part));
      this.partLen = 0;
    }
    for (; off + BLOCK <= b.length; off += BLOCK) this.done.push(digestOf(this.alg, b.subarray(off, off + BLOCK)));
    this.part.set(b.subarray(off), 0);
    this.partLen = b.length - off;
  };

  /** Every byte is in: the last, shorter piece is hashed. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.partLen > 0) this.done.push(digestOf(this.alg, this.part.subarray(0, this.partLen)));
    this.partLen = 0;
  }

  get lengths(): Uint32Array {
    const out = new Uint32Array(Math.ceil(this.bytes / BLOCK)).fill(BLOCK);
    if (this.bytes % BLOCK) out[out.length - 1] = this.bytes % BLOCK;
    return out;
  }

  digests(): Buffer | undefined {
    return this.ended ? Buffer.concat(this.done) : undefined;
  }

  stop(): void { /* nothing runs apart */ }
}
