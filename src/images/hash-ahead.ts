// Hashing large images beside the main thread: the addon's hasher (native/cryo_hasher.c) has a
// thread of its own that takes pieces of files as they are added (a dump adds its pages as they
// land in the pages image; restore adds every large pages image before it builds the task), and
// digests() hashes what is left on the calling thread too, so both cores hash once the caller
// waits. undefined where the addon cannot be loaded: callers hash as before.
import { closeSync, openSync } from 'node:fs';
import { native, type NativeAddon, type NativeHasher } from '../sys/native.js';

/** The longest piece the hasher takes (cryo_hasher.c's HASHER_CLAIM). */
export const HASH_AHEAD_MAX_PIECE = 4 << 20;

export class HashAhead {
  private stopped = false;
  private constructor(private readonly api: NativeAddon, private readonly h: NativeHasher) {}

  /**
   * A hasher with its thread running, or undefined where there is none. `idle`: the thread only
   * takes a core nothing else wants until digests() (a dump's frozen task is not slowed by it).
   */
  static start(idle = false): HashAhead | undefined {
    let a: NativeAddon;
    try {
      a = native();
    } catch {
      return undefined;
    }
    return new HashAhead(a, a.hasherStart(idle));
  }

  /**
   * Opens `file` for the hasher (its own descriptor, closed with it), its pieces hashed by `alg`
   * (the addon's DIGEST_*): the `file` to name in add(). Throws where `alg` cannot be computed.
   */
  file(file: string, alg: number): number {
    const fd = openSync(file, 'r');
    try {
      return this.api.hasherFile(this.h, fd, alg);
    } finally {
      closeSync(fd);
    }
  }

  /** Pieces of `file` (each 1 to HASH_AHEAD_MAX_PIECE bytes) lying back to back from `offset`. */
  add(file: number, offset: number, lengths: Uint32Array): void {
    this.api.hasherAdd(this.h, file, offset, lengths);
  }

  /** The digests of every piece added, 32 bytes each in order; throws when a file could not be read whole. */
  digests(): Buffer {
    return this.api.hasherFinish(this.h);
  }

  /** Ends the thread and closes the files (again: nothing). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.api.hasherStop(this.h);
  }
}
