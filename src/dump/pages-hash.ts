/**
 * The manifest's digests of a pages image, hashed while the dump writes it: its pieces are
 * PAGES_PIECE long (cryo-manifest.ts), and each goes to the addon's hasher thread once its bytes
 * are in the file. The task stays frozen no longer for it (the thread is SCHED_IDLE: it uses a
 * core nothing else wants); after the thaw the manifest finds most of the image hashed, the rest
 * hashed by both cores. computeManifest takes these digests only where its own pieces are the same.
 */
import { MANIFEST_HASH, PAGES_PIECE, type HashedAhead } from '../images/cryo-manifest.js';
import { HashAhead } from '../images/hash-ahead.js';
import { HASH_NUMBER } from '../images/manifest-hash.js';

/** Below this many bytes the thread is not started: the manifest hashes the image quicker itself. */
const START_BYTES = 4 << 20;
/** Pieces go to the hasher this many bytes at a time (one call each, which wakes its thread). */
const ADD_BYTES = 4 << 20;

/** The lengths of the pieces of `bytes` bytes: PAGES_PIECE each, the last one shorter. */
function pieceLengths(bytes: number): Uint32Array {
  const out = new Uint32Array(Math.ceil(bytes / PAGES_PIECE)).fill(PAGES_PIECE);
  if (bytes % PAGES_PIECE) out[out.length - 1] = bytes % PAGES_PIECE;
  return out;
}

export class PagesHashing implements HashedAhead {
  readonly alg = MANIFEST_HASH;
  private ahead: HashAhead | undefined;
  private file = -1;
  private failed = false;
  /** Bytes given to the hasher (whole pieces until finish()), and bytes in the file. */
  private sentBytes = 0;
  private written = 0;

  /** `frozen`: the pages come from the frozen task, which goes first (the hasher takes an idle core only). */
  constructor(private readonly pagesFile: string, private readonly frozen = true) {}

  /** `bytes` more bytes are in the pages file. */
  landed(bytes: number): void {
    this.written += bytes;
    if (this.failed) return;
    if (!this.ahead && this.written >= START_BYTES) {
      if (process.env.CRYO_NO_HASH_AHEAD === '1') return this.fail(); // measuring without it
      try {
        this.ahead = HashAhead.start(this.frozen);
        if (this.ahead) this.file = this.ahead.file(this.pagesFile, HASH_NUMBER[this.alg]);
      } catch {
        this.fail();
      }
      if (!this.ahead) this.failed = true;
    }
    this.send(false);
  }

  /** Every byte is in: the last pieces go. */
  finish(): void {
    this.send(true);
  }

  /** The pieces' lengths, in file order (from byte 0, back to back). */
  get lengths(): Uint32Array {
    return pieceLengths(this.written);
  }

  /** Their digests, 32 bytes each; undefined where hashing ahead did not run or failed (the manifest hashes the image itself). */
  digests(): Buffer | undefined {
    if (!this.ahead || this.failed || this.sentBytes !== this.written) return undefined;
    try {
      return this.ahead.digests();
    } catch {
      return undefined;
    } finally {
      this.stop();
    }
  }

  stop(): void {
    this.ahead?.stop();
  }

  private fail(): void {
    this.failed = true;
    this.stop();
  }

  /** Gives the hasher the pieces whose bytes are in the file, ADD_BYTES at a time (all of them when `all`). */
  private send(all: boolean): void {
    if (!this.ahead || this.failed) return;
    let bytes = this.written - this.sentBytes;
    if (!all) bytes -= bytes % PAGES_PIECE;
    if (bytes === 0 || (!all && bytes < ADD_BYTES)) return;
    try {
      this.ahead.add(this.file, this.sentBytes, pieceLengths(bytes));
    } catch {
      this.fail();
      return;
    }
    this.sentBytes += bytes;
  }
}
