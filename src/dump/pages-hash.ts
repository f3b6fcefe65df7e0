/**
 * The manifest's digests of a pages image, hashed while the dump writes it: the pieces are the
 * pagemap's runs cut at RUN_PIECE (cryo-manifest.ts's runPieces), the runs the entries as
 * PagemapRecorder merges them (a run that continues the previous one with the same flags is one
 * entry), and each piece goes to the addon's hasher thread once its bytes are in the file. The
 * task stays frozen no longer for it (the thread is SCHED_IDLE: it uses a core nothing else
 * wants); after the thaw the manifest finds most of the image hashed, the rest hashed by both
 * cores. computeManifest takes
 * these digests only where its own pieces are the same.
 */
import { PE_PRESENT } from '../images/index.js';
import { MANIFEST_HASH, RUN_PIECE, type HashedAhead } from '../images/cryo-manifest.js';
import { HashAhead } from '../images/hash-ahead.js';
import { HASH_NUMBER } from '../images/manifest-hash.js';

/** Below this many bytes the thread is not started: the manifest hashes the image quicker itself. */
const START_BYTES = 4 << 20;
/** Pieces go to the hasher this many bytes at a time (one call each). */
const ADD_BYTES = 1 << 20;

export class PagesHashing implements HashedAhead {
  readonly alg = MANIFEST_HASH;
  private ahead: HashAhead | undefined;
  private file = -1;
  private failed = false;
  /** Every piece's length, in file order (pieces[0, n)). */
  private pieces = new Uint32Array(1024);
  private n = 0;
  /** Pieces given to the hasher, and the bytes they cover. */
  private sent = 0;
  private sentBytes = 0;
  /** Bytes in the file. */
  private written = 0;
  /** The run being declared: its flags, where its pages end, its bytes so far, and those already cut into pieces. */
  private runFlags = -1;
  private runEnd = -1n;
  private runBytes = 0;
  private runCut = 0;

  constructor(private readonly pagesFile: string, private readonly pageSize: number) {}

  /** A pagemap entry, as the sink gets it (before its bytes). */
  entry(vaddr: bigint, nrPages: number, flags: number): void {
    if (flags !== this.runFlags || vaddr !== this.runEnd) {
      this.endRun();
      this.runFlags = flags;
    }
    this.runEnd = vaddr + BigInt(nrPages * this.pageSize);
    if ((flags & PE_PRESENT) === 0) return;
    this.runBytes += nrPages * this.pageSize;
    while (this.runBytes - this.runCut >= RUN_PIECE) this.cut(RUN_PIECE);
  }

  /** `bytes` more bytes are in the pages file. */
  landed(bytes: number): void {
    this.written += bytes;
    if (this.failed) return;
    if (!this.ahead && this.written >= START_BYTES) {
      if (process.env.CRYO_NO_HASH_AHEAD === '1') return this.fail(); // measuring without it
      try {
        this.ahead = HashAhead.start(true); // the task is frozen: it goes first
        if (this.ahead) this.file = this.ahead.file(this.pagesFile, HASH_NUMBER[this.alg]);
      } catch {
        this.fail();
      }
      if (!this.ahead) this.failed = true;
    }
    this.send(false);
  }

  /** Every entry and byte is in: the last pieces go. */
  finish(): void {
    this.endRun();
    this.send(true);
  }

  /** The pieces' lengths, in file order (from byte 0, back to back). */
  get lengths(): Uint32Array {
    return this.pieces.subarray(0, this.n);
  }

  /** Their digests, 32 bytes each; undefined where hashing ahead did not run or failed (the manifest hashes the image itself). */
  digests(): Buffer | undefined {
    if (!this.ahead || this.failed || this.sent !== this.n) return undefined;
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

  private endRun(): void {
    if (this.runBytes > this.runCut) this.cut(this.runBytes - this.runCut);
    this.runBytes = 0;
    this.runCut = 0;
  }

  private cut(len: number): void {
    if (this.n === this.pieces.length) {
      const more = new Uint32Array(this.pieces.length * 2);
      more.set(this.pieces);
      this.pieces = more;
    }
    this.pieces[this.n++] = len;
    this.runCut += len;
  }

  /** Gives the hasher the pieces whose bytes are in the file, ADD_BYTES at a time (all of them when `all`). */
  private send(all: boolean): void {
    if (!this.ahead || this.failed) return;
    let end = this.sent;
    let bytes = 0;
    while (end < this.n && this.sentBytes + bytes + this.pieces[end]! <= this.written) bytes += this.pieces[end++]!;
    if (end === this.sent || (!all && bytes < ADD_BYTES)) return;
    try {
      this.ahead.add(this.file, this.sentBytes, this.pieces.slice(this.sent, end));
    } catch {
      this.fail();
      return;
    }
    this.sent = end;
    this.sentBytes += bytes;
  }
}
