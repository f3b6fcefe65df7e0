/**
 * A chain of dumps (pre-dump, pre-dump, dump): each directory's `parent` link (relative to it, as
 * CRIU writes it) names the dump before it, and a pagemap entry marked PE_PARENT (CRIU's in_parent)
 * says those pages are the parent's. PageChain resolves every run of the newest pagemap to the file
 * and offset that hold its bytes, and refuses a chain whose parent is missing, lacks a page, or was
 * altered since (cryo-parent.json: the hashes of the parent's memory images at the time of the dump).
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, openSync, readFileSync, readSync, closeSync, readlinkSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ImageError } from './errors.js';
import { PE_PARENT } from './flags.js';
import { PageReader, type PageRun } from './pages.js';

/** CRIU's name for the link to the previous dump of a chain. */
export const PARENT_LINK = 'parent';
/** cryo's record of the parent's memory images (name -> sha256), checked before a restore. */
export const PARENT_HASHES = 'cryo-parent.json';

/** Bytes of pages at vaddr, held in `file` at `offset`. */
export interface PageSegment { vaddr: bigint; len: number; file: string; offset: number }

export class ChainError extends Error {}

interface Level { dir: string; pagemap: string; pagesPath: string; runs: PageRun[] }

/** The directory a dump's `parent` link names, or undefined when it has none. */
export function parentDir(dir: string): string | undefined {
  const link = path.join(dir, PARENT_LINK);
  let target: string;
  try {
    if (!lstatSync(link).isSymbolicLink()) throw new ChainError(`${link} is not a symbolic link to the parent dump`);
    target = readlinkSync(link);
  } catch (e) {
    if (e instanceof ChainError) throw e;
    return undefined;
  }
  return path.resolve(dir, target);
}

/** The memory images of a dump directory that a child dump's in_parent pages rely on. */
export function memoryImages(dir: string): string[] {
  return readdirSync(dir).filter((n) => /^(pagemap-\d+|pages-\d+)\.img$/.test(n)).sort();
}

/**
 * Hashes this process computed, by file identity: a file whose inode, size, mtime and ctime are
 * unchanged since is not read again (any write moves ctime). `cryo migrate` hashes each pre-dump
 * while the task still runs, so that the restore's chain check in the freeze costs no reading.
 */
const known = new Map<string, { id: string; hash: string }>();

function identity(file: string): string {
  const s = statSync(file, { bigint: true });
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

function sha256(file: string): string {
  const id = identity(file);
  const k = known.get(file);
  if (k?.id === id) return k.hash;
  const h = createHash('sha256');
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  const hash = h.digest('hex');
  // Kept only if the file did not change while it was read.
  if (identity(file) === id) known.set(file, { id, hash });
  return hash;
}

/**
 * DIR/cryo-hashes.json: the hashes hashMemoryImages computed, by file identity. A child dump's
 * record of its parent (recordParentHashes, e.g. by the next page server) takes them from there
 * instead of reading the parent again; the restore's chain check never does (it hashes what it
 * reads, so damage that leaves the identity as it was is still found).
 */
const HASH_RECORD = 'cryo-hashes.json';

/** Hashes the memory images of `dir` now (a later checkChain of a child dump in this process finds them known) and records them in DIR/cryo-hashes.json. */
export function hashMemoryImages(dir: string): void {
  const rec: Record<string, { id: string; hash: string }> = {};
  for (const n of memoryImages(dir)) {
    const f = path.join(dir, n);
    const hash = sha256(f);
    const k = known.get(f);
    if (k?.hash === hash) rec[n] = k;
  }
  writeFileSync(path.join(dir, HASH_RECORD), JSON.stringify(rec) + '\n', { mode: 0o600 });
}

/** The hash of `file` from its directory's cryo-hashes.json when its identity is unchanged since; else computed. */
function recordedSha256(file: string, rec: Record<string, { id: string; hash: string }>): string {
  const r = rec[path.basename(file)];
  return r !== undefined && r.id === identity(file) ? r.hash : sha256(file);
}

function readHashRecord(dir: string): Record<string, { id: string; hash: string }> {
  try {
    return JSON.parse(readFileSync(path.join(dir, HASH_RECORD), 'utf8')) as Record<string, { id: string; hash: string }>;
  } catch {
    return {};
  }
}

/** Writes DIR/cryo-parent.json: the hash of each of the parent's memory images. */
export function recordParentHashes(dir: string, parent: string, link: string): void {
  const images: Record<string, string> = {};
  const rec = readHashRecord(parent);
  for (const n of memoryImages(parent)) images[n] = recordedSha256(path.join(parent, n), rec);
  writeFileSync(path.join(dir, PARENT_HASHES), JSON.stringify({ parent: link, images }, null, 1) + '\n', { mode: 0o600 });
}

/**
 * Checks the chain above `dir`: each parent exists and (where the child recorded them, as cryo
 * does) its memory images are the ones the child was dumped against. Throws ChainError naming what is wrong.
 */
export function checkChain(dir: string): void {
  const seen = new Set<string>();
  for (let d = dir, p = parentDir(dir); p !== undefined; d = p, p = parentDir(p)) {
    const link = `${path.join(d, PARENT_LINK)} -> ${readlinkSync(path.join(d, PARENT_LINK))}`;
    if (seen.has(p)) throw new ChainError(`${link}: the chain of parent dumps loops`);
    seen.add(p);
    if (!existsSync(p) || !statSync(p).isDirectory()) throw new ChainError(`${link}: the parent dump is missing: restore needs every dump of the chain (or dump again without --prev-images-dir)`);
    const rec = path.join(d, PARENT_HASHES);
    if (!existsSync(rec)) continue; // a chain CRIU made: coverage is still checked page by page
    let images: Record<string, string>;
    try {
      images = (JSON.parse(readFileSync(rec, 'utf8')) as { images: Record<string, string> }).images;
    } catch (e) {
      throw new ChainError(`${rec} is damaged (${(e as Error).message}): the parent dump cannot be checked`);
    }
    for (const [name, hash] of Object.entries(images)) {
      const f = path.join(p, name);
      if (!existsSync(f)) throw new ChainError(`${f} is missing: the parent dump ${p} is not the one ${d} was dumped against`);
      if (sha256(f) !== hash) throw new ChainError(`${f} was altered after ${d} was dumped against it: the chain cannot be restored`);
    }
  }
}

/** The pagemap `name` (e.g. pagemap-42.img) of `dir` and of its ancestors, resolved to page bytes. */
export class PageChain {
  private readonly levels: Level[] = [];

  constructor(dir: string, name: string, private readonly pageSize: number) {
    this.levels.push(this.load(dir, path.join(dir, name)));
  }

  private load(dir: string, pagemap: string): Level {
    const reader = new PageReader(pagemap, undefined, this.pageSize);
    try {
      return { dir, pagemap, pagesPath: reader.pagesPath, runs: [...reader] };
    } finally {
      reader.close();
    }
  }

  /** Level i+1 (the parent of level i), loaded on first use. */
  private parent(i: number): Level {
    const existing = this.levels[i + 1];
    if (existing) return existing;
    const child = this.levels[i]!;
    const p = parentDir(child.dir);
    const name = path.basename(child.pagemap);
    if (p === undefined) throw new ChainError(`${child.pagemap} has pages in its parent (in_parent) but ${child.dir} has no ${PARENT_LINK} link`);
    const file = path.join(p, name);
    if (!existsSync(file)) throw new ChainError(`${file} is missing: ${child.pagemap} has pages in that parent dump`);
    try {
      this.levels.push(this.load(p, file));
    } catch (e) {
      if (e instanceof ImageError) throw new ChainError(`corrupt parent image: ${e.message}`);
      throw e;
    }
    return this.levels[i + 1]!;
  }

  /** Where the bytes of every page of the newest pagemap are (runs without bytes, e.g. lazy-only, are left out). */
  *segments(): Generator<PageSegment> {
    const level = this.levels[0]!;
    for (const run of level.runs) {
      // This dump's own pages (most runs) without a generator each.
      if (run.offset >= 0) yield { vaddr: run.vaddr, len: run.nrPages * this.pageSize, file: level.pagesPath, offset: run.offset };
      else yield* this.resolve(0, run);
    }
  }

  /** Where the bytes of one run of the newest pagemap are. */
  segmentsOf(run: PageRun): Generator<PageSegment> {
    return this.resolve(0, run);
  }

  private *resolve(i: number, run: PageRun): Generator<PageSegment> {
    const level = this.levels[i]!;
    if (run.offset >= 0) {
      yield { vaddr: run.vaddr, len: run.nrPages * this.pageSize, file: level.pagesPath, offset: run.offset };
      return;
    }
    if ((run.flags & PE_PARENT) === 0) return;
    const up = this.parent(i);
    const page = BigInt(this.pageSize);
    let at = run.vaddr;
    const end = run.vaddr + BigInt(run.nrPages) * page;
    // The parent's runs are in address order: find the first that ends after `at`.
    let lo = 0;
    let hi = up.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const r = up.runs[mid]!;
      if (r.vaddr + BigInt(r.nrPages) * page <= at) lo = mid + 1;
      else hi = mid;
    }
    for (let k = lo; at < end; k++) {
      const r = up.runs[k];
      if (r === undefined || r.vaddr > at || (r.offset < 0 && (r.flags & PE_PARENT) === 0)) {
        throw new ChainError(`${level.pagemap}: the page at 0x${at.toString(16)} is in_parent, but ${up.pagemap} has no such page`);
      }
      const rEnd = r.vaddr + BigInt(r.nrPages) * page;
      const pieceEnd = rEnd < end ? rEnd : end;
      const skip = Number((at - r.vaddr) / page);
      const n = Number((pieceEnd - at) / page);
      yield* this.resolve(i + 1, { vaddr: at, nrPages: n, flags: r.flags, offset: r.offset < 0 ? -1 : r.offset + skip * this.pageSize });
      at = pieceEnd;
    }
  }

  /** Pages files of the chain whose bytes segments() may name, with their sizes checked against the pagemaps. */
  checkSizes(): void {
    for (const l of this.levels) {
      let need = 0;
      for (const r of l.runs) if (r.offset >= 0) need = Math.max(need, r.offset + r.nrPages * this.pageSize);
      let size = -1;
      try {
        size = statSync(l.pagesPath).size;
      } catch { /* below */ }
      if (size < 0) throw new ChainError(`${l.pagesPath} is missing: ${l.dir} is not a complete dump`);
      if (size !== need) throw new ChainError(`corrupt image: ${l.pagesPath}: expected ${need} bytes of pages (the pagemap says so), the file has ${size}`);
    }
  }
}
