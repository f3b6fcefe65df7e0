// A root restore runs code and sets state that the images describe, so it only reads images that
// no other user could have written: the image directory and every entry in it must be owned by root
// or by the user restoring, and writable by nobody else (issue 15).
import { readdirSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { RestoreError } from '../shared/restore-error.js';
import { CRYO_MANIFEST_IMAGE, ManifestError, checkManifest, type DeferredImage } from '../images/cryo-manifest.js';
import { ImagesInWorker } from '../images/manifest-worker.js';
import { parentDir } from '../images/page-chain.js';

const GROUP_OR_OTHER_WRITE = 0o022;

function check(p: string, st: Stats, what: string, me: number): void {
  if (st.uid !== 0 && st.uid !== me) {
    throw new RestoreError('UNSAFE', `${what} ${p} is owned by uid ${st.uid}, not by root or you (uid ${me}): refusing to restore from images another user controls; copy them into a directory of your own`);
  }
  if (st.mode & GROUP_OR_OTHER_WRITE) {
    throw new RestoreError('UNSAFE', `${what} ${p} is writable by ${st.mode & 0o002 ? 'every user' : 'its group'} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}): refusing to restore from images others could change; chmod go-w it`);
  }
}

/** Refuses, before any image is read, an image directory or image another user owns or could write. */
export function checkImageOwnership(dir: string, me = process.geteuid?.() ?? 0): void {
  let st: Stats;
  try {
    st = statSync(dir);
  } catch (e) {
    throw new RestoreError('IMAGE_MISSING', `cannot read the image directory ${dir}: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw new RestoreError('IMAGE_MISSING', `${dir} is not a directory: give -D the directory a dump wrote`);
  check(dir, st, 'the image directory', me);
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    let s: Stats;
    try {
      s = statSync(p);
    } catch {
      continue; // a dangling link is no image; a missing image is named when it is needed
    }
    check(p, s, s.isDirectory() ? 'the directory' : 'the image', me);
  }
}

/** Pages images at least this large are hashed on a thread of their own while restore goes on. */
const HASH_LATER = 4 << 20;

/** The pages images whose hashes restore awaits before the restored task runs. */
export interface PendingHashes {
  /** Resolves when every deferred image matched; throws RestoreError naming the first that did not. */
  verified(): Promise<void>;
  stop(): void;
}

/**
 * Refuses a dump whose images differ from its manifest (cryo-manifest.img), and a chain whose
 * parent dumps do: one line naming the first image and byte range that differ. Every image is
 * checked here, but the bytes of large pages images: those are hashed on another thread while
 * restore builds the task, and awaited (verified()) before it runs. A directory without a
 * manifest (a dump by CRIU or an older cryo) is not checked: `warn` says so.
 */
export function checkImageHashes(dir: string, warn: (message: string) => void): PendingHashes {
  const seen = new Set<string>();
  const deferred: DeferredImage[] = [];
  const refuse = (d: string, problems: string[]) => {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more: cryo check-images ${d})` : '';
    const what = d === dir ? 'image altered since the dump' : `parent dump ${d} altered since the dump`;
    return new RestoreError('IMAGE_CORRUPT', `${what}: ${problems[0]}${more}; restore from an intact copy of the images, or dump again`);
  };
  const owner = new Map<string, string>();
  for (let d: string | undefined = dir; d !== undefined && !seen.has(d); d = parentOf(d)) {
    seen.add(d);
    let problems: string[] | undefined;
    const before = deferred.length;
    try {
      problems = checkManifest(d, (e) => e.size >= HASH_LATER && e.pieces.some((p) => p.vaddr !== undefined), deferred);
    } catch (e) {
      if (e instanceof ManifestError) throw new RestoreError('IMAGE_CORRUPT', e.message);
      throw new RestoreError('IMAGE_CORRUPT', `cannot check the images of ${d} against ${CRYO_MANIFEST_IMAGE}: ${(e as Error).message}`);
    }
    for (const x of deferred.slice(before)) owner.set(x.file, d);
    if (problems === undefined) {
      if (d === dir) warn(`${dir} has no ${CRYO_MANIFEST_IMAGE} (a dump by CRIU or an older cryo): its images are not checked against hashes`);
      continue;
    }
    if (problems.length > 0) throw refuse(d, problems);
  }
  const worker = new ImagesInWorker(deferred);
  return {
    async verified() {
      const problems = await worker.result;
      if (problems.length === 0) return;
      const d = [...owner].find(([file]) => problems[0]!.startsWith(file))?.[1] ?? dir;
      throw refuse(d, problems);
    },
    stop: () => worker.stop(),
  };
}

function parentOf(d: string): string | undefined {
  try {
    return parentDir(d);
  } catch {
    return undefined; // a broken parent link is named by the chain's own check
  }
}
