// `dump --stream` and `restore --stream`: the images go through standard output / input as cryo's
// image stream (src/images/image-stream.ts). Each side keeps them meanwhile in a private spool
// directory (0700, images 0600, under $TMPDIR: a tmpfs there keeps them off the disk), removed after,
// by cryo's guard if cryo is killed.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UsageError } from '../command.js';
import { ImageStreamError, readImageStream, writeImageStream } from '../../images/image-stream.js';
import { CRYO_MANIFEST_IMAGE } from '../../images/cryo-manifest.js';
import { beginGuard, guardSpool } from '../../sys/guardian.js';

export interface Spool {
  readonly dir: string;
  /** Removes it and what it holds (once; later calls do nothing). */
  remove(): void;
}

/** A new spool directory, guarded until it is removed. */
export function openSpool(): Spool {
  const endGuard = beginGuard(false);
  const dir = mkdtempSync(path.join(tmpdir(), 'cryo-stream-'));
  const taken = guardSpool(dir);
  let removed = false;
  return {
    dir,
    remove() {
      if (removed) return;
      removed = true;
      rmSync(dir, { recursive: true, force: true });
      taken();
      endGuard();
    },
  };
}

/** What `dump --stream` cannot be combined with, and a terminal as its output. */
export function checkStreamOptions(values: Record<string, unknown>, preDump: boolean): void {
  if (preDump) throw new UsageError('pre-dump --stream: a pre-dump is the parent of the next dump of its chain and stays in -D DIR');
  for (const o of ['images-dir', 'prev-images-dir', 'page-server']) {
    if (values[o] !== undefined) throw new UsageError(`--stream writes the whole dump to standard output: leave out ${o === 'images-dir' ? '-D' : `--${o}`}`);
  }
  if (process.stdout.isTTY) throw new UsageError('--stream writes the images to standard output: redirect it to a file or a pipe');
}

/** Sends the dump in `dir` to standard output; resolves once all of it is handed to the pipe. */
export async function sendStream(dir: string): Promise<void> {
  // A reader gone (EPIPE) is the dump's failure, reported once: not an uncaught 'error' event later.
  process.stdout.on('error', () => {});
  try {
    await writeImageStream(dir, process.stdout);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'EPIPE' ? 'the reader of the image stream (standard output) went away before the dump was sent' : `writing the image stream: ${(e as Error).message}`);
  }
}

/** Reads an image stream from standard input into a new spool directory, which it returns. */
export async function receiveStream(): Promise<Spool> {
  if (process.stdin.isTTY) throw new UsageError('--stream reads the images from standard input: pipe `cryo dump --stream` (or a file it wrote) into it');
  const spool = openSpool();
  try {
    await readImageStream(process.stdin, spool.dir);
    // Without its manifest nothing in the stream could be checked.
    if (!existsSync(path.join(spool.dir, CRYO_MANIFEST_IMAGE))) throw new ImageStreamError(`the image stream carries no ${CRYO_MANIFEST_IMAGE}, so its images cannot be checked: stream a dump made by cryo`);
  } catch (e) {
    spool.remove();
    throw e;
  }
  return spool;
}
