/**
 * Where a dump's images go: file names as CRIU's, each image written once, created 0600 in a 0700
 * directory (they hold process memory), with an event for every file.
 */
import { chmodSync, mkdirSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { ImageWriter, imageFileName, precreateImageFiles, writeImageFile, writeImageFileSoon, type ImageFileKey, type MessageValue } from '../images/index.js';
import type { ExtraValue } from '../images/index.js';
import { CRYO_MANIFEST_IMAGE, writeManifest, type HashedAhead } from '../images/cryo-manifest.js';
import type { DumpEvent } from './events.js';
import { DumpError } from '../shared/dump-error.js';
import { guardFile } from '../sys/guardian.js';
import { HashedAsWritten } from './written-hash.js';

export type Entry = MessageValue | { value: MessageValue; extra?: ExtraValue };

export class ImageSet {
  readonly written: string[] = [];
  /** What a retract undoes besides the set (files the dump made elsewhere). */
  private readonly undo: (() => void)[] = [];
  /** Images (by name) hashed while written: the manifest takes their digests. */
  private readonly ahead = new Map<string, HashedAhead & { stop(): void }>();
  /** Images whose whole bytes are known without reading them back (record). */
  private readonly bytes = new Map<string, Buffer>();
  /** Image files being created ahead (precreate). */
  private readonly early: ReturnType<typeof precreateImageFiles>[] = [];
  /** Images whose bytes are on their way to the file (write), and the first failure of one. */
  private readonly pending: Promise<void>[] = [];
  private writeFailed: { e: unknown } | undefined;
  /** The first directory of `dir`'s path this dump made, if it made one: a failed dump with nothing in it removes it. */
  private readonly made: string | undefined;
  constructor(readonly dir: string, private readonly emit: (e: DumpEvent) => void) {
    try {
      this.made = mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTDIR') throw e;
      throw new DumpError('FAILED', `the images directory ${dir} cannot be made: ${code === 'EEXIST' ? 'a file that is not a directory is there' : 'a part of its path is a file, not a directory'}; give -D a directory`);
    }
    // An existing directory is tightened too: the images hold the task's memory.
    if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
    // A dump into a directory replaces its images: the old inventory goes first, so a dump that
    // fails midway never leaves old and new images that restore would take for one set.
    rmSync(this.path('inventory'), { force: true });
    rmSync(path.join(dir, CRYO_MANIFEST_IMAGE), { force: true });
  }

  /** The path of image `key` (imageFileName's CRIU name with `id` in it). */
  path(key: ImageFileKey, id?: number | bigint): string {
    return path.join(this.dir, imageFileName(key, id));
  }

  /** Starts creating these images ahead (precreateImageFiles); settle() before writeLast or retract. */
  precreate(keys: readonly [ImageFileKey, number | bigint | undefined][]): void {
    this.early.push(precreateImageFiles(keys.map(([k, id]) => this.path(k, id))));
  }

  /** Every file started by precreate is made (or failed), and every write ended (its failure kept for writesDone). */
  async settle(): Promise<void> {
    await Promise.all([...this.early.map((a) => a.settled), ...this.pending]);
  }

  /** Every image of write() is complete in its file; throws the first write's failure. */
  async writesDone(): Promise<void> {
    await this.settle();
    if (this.writeFailed !== undefined) throw this.writeFailed.e;
  }

  /** Files made ahead and not written are removed (the set has no empty images). */
  private dropUnused(): void {
    for (const a of this.early.splice(0)) a.dropUnused();
  }

  /** Records a pages image whose manifest digests were hashed while it was written (see pages-hash.ts). */
  hashedAhead(file: string, h: HashedAhead & { stop(): void }): void {
    this.ahead.set(path.basename(file), h);
    this.record(file);
  }

  /** Ends the hashing threads (their digests are taken or no longer wanted). */
  private stopHashing(): void {
    for (const h of this.ahead.values()) h.stop();
    this.ahead.clear();
  }

  /** Records a file written by someone else (pages, stats); `bytes`: all it holds, for the manifest. */
  record(file: string, bytes?: Buffer): void {
    const rel = path.relative(this.dir, file);
    if (bytes !== undefined) this.bytes.set(rel, bytes);
    if (!this.written.includes(rel)) this.written.push(rel);
    this.emit({ type: 'image', file: rel });
  }

  /** Writes an image: complete in its file once writesDone (or settle) has ended. */
  write(key: ImageFileKey, id: number | bigint | undefined, magic: string, entries: Iterable<Entry>): void {
    const file = this.path(key, id);
    // Hashed for the manifest on the way, not read back for it.
    const hashed = new HashedAsWritten();
    this.pending.push(writeImageFileSoon(file, magic, entries, hashed.add).catch((e: unknown) => { this.writeFailed ??= { e }; }));
    hashed.end();
    this.ahead.set(path.relative(this.dir, file), hashed);
    this.record(file);
  }

  /**
   * Writes the image that completes the set under a temporary name, then the manifest of every
   * image (it among them), then renames it into place: a set with it has its manifest too. After writesDone.
   */
  writeLast(key: ImageFileKey, id: number | bigint | undefined, magic: string, entries: Iterable<Entry>): void {
    const file = this.path(key, id);
    const tmp = `${file}.part`;
    let taken = () => {};
    this.dropUnused();
    try {
      writeImageFile(tmp, magic, entries);
      taken = guardFile(tmp);
      try {
        writeManifest(this.dir, { pending: new Map([[path.basename(file), path.basename(tmp)]]), ahead: this.ahead, bytes: this.bytes });
      } finally {
        this.stopHashing();
      }
      this.record(path.join(this.dir, CRYO_MANIFEST_IMAGE));
      renameSync(tmp, file);
      taken();
    } catch (e) {
      taken();
      rmSync(tmp, { force: true });
      throw e;
    }
    this.record(file);
  }

  /** A dump that failed: the set loses its inventory, so restore never takes it. */
  retract(): void {
    this.stopHashing();
    this.dropUnused();
    rmSync(this.path('inventory'), { force: true });
    rmSync(path.join(this.dir, CRYO_MANIFEST_IMAGE), { force: true });
    for (const fn of this.undo.splice(0)) fn();
    if (this.made === undefined || this.written.length > 0) return;
    // Up to the first directory it made, each only while empty (rmdir): another's files stay.
    for (let d = this.dir; ; d = path.dirname(d)) {
      try { rmdirSync(d); } catch { return; }
      if (d === this.made || d === path.dirname(d)) return;
    }
  }

  /** `fn` runs if the set is retracted. */
  onRetract(fn: () => void): void {
    this.undo.push(fn);
  }

  writer(file: string, magic: string): ImageWriter {
    const w = ImageWriter.create(file, magic);
    this.record(file);
    return w;
  }
}
