/**
 * cryo-manifest.img: a strong hash (BLAKE3-256; SHA-256 in manifests written before it) of every image of a dump, written after every other image, so a
 * restore (and `cryo check-images`) can tell an image altered or damaged since the dump, and say
 * where. Each image is hashed in pieces, so a difference is named by its byte range: 4 KiB pieces
 * for most images, 256 KiB for pages images, each with the address of its first page, so a reader
 * that takes a few pages alone (lazy pages) checks just the piece that holds them. (Pieces once
 * followed page runs: a sparse task's 100,000 runs made the manifest 1% of its images.) It guards against
 * damage and edits, not against someone who rewrites the manifest too (it is no signature).
 * Same framing as cryo's other images: u32 magic, then u32 size + protobuf message per entry.
 *
 *   message cryo_manifest_entry {
 *     required string name = 1;                 // the image's file name in the dump directory
 *     required uint64 size = 2;                 // its length in bytes
 *     repeated uint32 lengths = 3 [packed];     // its bytes in consecutive pieces: each one's length
 *     optional bytes sha256 = 4;                // the pieces' SHA-256 digests, 32 bytes each, in order (cryo before BLAKE3)
 *     repeated uint64 vaddrs = 5 [packed];      // pages images: the address of each piece's first page
 *     optional bool elsewhere = 6;              // sent to a page server: not in this directory, not checked here
 *     optional bytes blake3 = 7;                // the pieces' BLAKE3-256 digests, 32 bytes each, in order
 *   }
 * An entry's digests are in the field of its algorithm (one of sha256 and blake3): a reader that
 * knows only SHA-256 finds no digests in a BLAKE3 entry and refuses it as damaged, never as altered.
 */
import { existsSync, lstatSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { message, opt, rep, req } from './schema.js';
import { readCryoImage, writeCryoImage } from './cryo-framing.js';
import type { MessageValue } from './value.js';
import { PageReader, pagemapFactsOf, pagemapRunsOfBytes, type PagemapColumns } from './pages.js';
import { DIGEST, HASH_NAME, MANIFEST_HASH, digestOf, hashPieces, type HashAlg, type Piece } from './manifest-hash.js';
import { guardFile } from '../sys/guardian.js';
import { FaultInjected, faultPoint } from '../fault.js';

export const CRYO_MANIFEST_IMAGE = 'cryo-manifest.img';
/** 'CRYM' read as a little-endian u32. */
export const CRYO_MANIFEST_MAGIC = 0x4d595243;

export const cryo_manifest_entry = message('cryo_manifest_entry', [
  req(1, 'name', 'string'),
  req(2, 'size', 'uint64'),
  rep(3, 'lengths', 'uint32', { packed: true }),
  opt(4, 'sha256', 'bytes'),
  rep(5, 'vaddrs', 'uint64', { packed: true }),
  opt(6, 'elsewhere', 'bool'),
  opt(7, 'blake3', 'bytes'),
]);

/** Piece size of images other than pages: small enough to name where an edit is. */
export const BLOCK = 4096;
/** Pages images are hashed in pieces this long (a lazy reader reads and checks one piece for a fault). */
export const PAGES_PIECE = 256 * 1024;

export { MANIFEST_HASH, type HashAlg, type Piece };

export interface ManifestEntry {
  name: string;
  size: number;
  pieces: Piece[];
  /** The algorithm of `digests`. */
  alg: HashAlg;
  /** The digests of `pieces`, in order. */
  digests: Buffer[];
  elsewhere?: boolean;
}

/** Files of a dump directory that restore or crit read as images (CRIU names a few without .img): they must all be in the manifest. */
export function isImageName(name: string): boolean {
  return name !== CRYO_MANIFEST_IMAGE && (name.endsWith('.img') || ['cryo-parent.json', 'stats-dump', 'stats-restore', 'irmap-cache'].includes(name));
}

const isPagesImage = (name: string) => /^pages-\d+\.img$/.test(name);

/** Consecutive pieces of `size` bytes, `block` long (the last one shorter). */
export function blockPieces(size: number, block = BLOCK): Piece[] {
  const out: Piece[] = [];
  for (let off = 0; off < size; off += block) out.push({ offset: off, length: Math.min(block, size - off) });
  return out;
}

/**
 * A pages image's pieces (PAGES_PIECE long), each with the address of its first page, from the
 * runs of the pagemap that fills it; without addresses where that pagemap does not tile the file.
 */
export function pagesImagePieces(size: number, runs: Readonly<PagemapColumns> | undefined): Piece[] {
  const pieces = blockPieces(size, PAGES_PIECE);
  if (runs === undefined) return pieces;
  const page = size / pagemapFactsOf(runs).presentPages;
  if (!Number.isInteger(page) || (page & (page - 1)) !== 0) return pieces;
  let i = 0;
  for (const p of pieces) {
    // The present run that holds the piece's first byte (firstPage rises with the index).
    while (runs.firstPage[i]! < 0 || (runs.firstPage[i]! + runs.nrPages[i]!) * page <= p.offset) i++;
    p.vaddr = runs.vaddr[i]! + BigInt(p.offset - runs.firstPage[i]! * page);
  }
  return pieces;
}

/** Every pagemap among `names`, read once: its bytes (for its own digests) and its runs. */
interface Pagemaps {
  /** The runs of the pagemap that fills each pages image, by the pages image's name (undefined: more than one). */
  runs: Map<string, Readonly<PagemapColumns> | undefined>;
  /** Each pagemap's bytes, by its name. */
  bytes: Map<string, Buffer>;
}

function readPagemaps(fileOf: (name: string) => string, names: readonly string[], known: ReadonlyMap<string, Buffer> | undefined, sizes: ReadonlyMap<string, number>): Pagemaps {
  const out: Pagemaps = { runs: new Map(), bytes: new Map() };
  for (const n of names.filter((x) => /^pagemap-(shmem-)?\d+\.img$/.test(x))) {
    const file = fileOf(n);
    let b: Buffer;
    try {
      const k = known?.get(n);
      if (k !== undefined && k.length === sizes.get(n)) b = k;
      else {
        faultPoint(`read ${file}`);
        b = readFileSync(file);
      }
    } catch (e) {
      // An injected fault is the dump's failure, not a pagemap to leave out (issue 15's sweep).
      if (e instanceof FaultInjected) throw e;
      continue;
    }
    out.bytes.set(n, b);
    const decoded = pagemapRunsOfBytes(b) ?? decodedGenerically(file);
    if (decoded === undefined) continue; // not a pagemap cryo can read: its pages image's pieces have no addresses
    const pages = `pages-${decoded.pagesId}.img`;
    out.runs.set(pages, out.runs.has(pages) ? undefined : decoded.cols);
  }
  return out;
}

/** A pagemap in a layout pagemapRunsOfBytes does not take, through PageReader; undefined where that fails. */
function decodedGenerically(file: string): { pagesId: number; cols: Readonly<PagemapColumns> } | undefined {
  let reader: PageReader;
  try {
    reader = new PageReader(file, undefined, 1);
  } catch (e) {
    if (e instanceof FaultInjected) throw e;
    return undefined;
  }
  try {
    return { pagesId: reader.pagesId, cols: reader.columns() };
  } catch (e) {
    if (e instanceof FaultInjected) throw e;
    return undefined;
  } finally {
    reader.close();
  }
}

/** Digests of a pages image computed while it was written (src/dump/pages-hash.ts). */
export interface HashedAhead {
  /** The algorithm of the digests. */
  readonly alg: HashAlg;
  /** The pieces' lengths, back to back from byte 0. */
  readonly lengths: Uint32Array;
  /** 32 bytes per piece; undefined when they could not be computed. */
  digests(): Buffer | undefined;
}

/** What a manifest covers besides the images in place: images sent away, and images written under a temporary name. */
export interface ManifestExtras {
  /** Images sent to a page server (listed, not checked here). */
  elsewhere?: readonly string[];
  /** Image name -> the temporary file that becomes it once the manifest is in place. */
  pending?: ReadonlyMap<string, string>;
  /** Image name -> its digests, hashed while it was written: taken where its pieces are the manifest's. */
  ahead?: ReadonlyMap<string, HashedAhead>;
  /** Image name -> all its bytes, known as written: not read back (pagemaps). */
  bytes?: ReadonlyMap<string, Buffer>;
}

/** The digests `ahead` has for exactly `pieces`, back to back, or undefined. */
function digestsAhead(ahead: HashedAhead | undefined, pieces: readonly Piece[]): Buffer | undefined {
  if (!ahead || ahead.alg !== MANIFEST_HASH) return undefined;
  const lengths = ahead.lengths;
  if (lengths.length !== pieces.length) return undefined;
  let off = 0;
  for (const [i, p] of pieces.entries()) {
    if (p.offset !== off || p.length !== lengths[i]) return undefined;
    off += p.length;
  }
  const all = ahead.digests();
  if (!all || all.length !== pieces.length * DIGEST) return undefined;
  return all;
}

/** Digests back to back as a manifest entry's (one view each, made when first asked for: a sparse task's pages image has 100,000s). */
function entryOf(name: string, size: number, pieces: Piece[], block: Buffer, alg: HashAlg = MANIFEST_HASH): ManifestEntry {
  let views: Buffer[] | undefined;
  const e = { name, size, pieces, alg, get digests() { return (views ??= pieces.map((_, i) => block.subarray(i * DIGEST, (i + 1) * DIGEST))); } };
  digestBlocks.set(e, block);
  return e;
}

/** The digests of entries made by entryOf, back to back (what the manifest image holds). */
const digestBlocks = new WeakMap<ManifestEntry, Buffer>();

/** An entry's digests back to back, 32 bytes each in the order of its pieces. */
export function digestBlock(e: ManifestEntry): Buffer {
  return digestBlocks.get(e) ?? Buffer.concat(e.digests);
}

/** The index of the first 32-byte digest where `got` and `want` differ (compared whole first); -1 when none does. */
export function firstDigestDifference(got: Buffer, want: Buffer): number {
  if (got.equals(want)) return -1;
  for (let i = 0; i * DIGEST < Math.max(got.length, want.length); i++) {
    if (!got.subarray(i * DIGEST, (i + 1) * DIGEST).equals(want.subarray(i * DIGEST, (i + 1) * DIGEST))) return i;
  }
  return -1;
}

/** The manifest entries of every image in `dir` (its pages images by page run). */
export function computeManifest(dir: string, extras: ManifestExtras = {}): ManifestEntry[] {
  const sizes = new Map<string, number>();
  const pending = extras.pending ?? new Map<string, string>();
  const fileOf = (n: string) => path.join(dir, pending.get(n) ?? n);
  for (const n of [...new Set([...readdirSync(dir), ...pending.keys()])].sort()) {
    if (!isImageName(n) || extras.elsewhere?.includes(n)) continue;
    const st = lstatSync(fileOf(n));
    if (st.isFile()) sizes.set(n, st.size);
  }
  const names = [...sizes.keys()];
  const pagemaps = readPagemaps(fileOf, names, extras.bytes, sizes);
  const out: ManifestEntry[] = [];
  for (const name of names) {
    const size = sizes.get(name)!;
    const pieces = isPagesImage(name) ? pagesImagePieces(size, pagemaps.runs.get(name)) : blockPieces(size);
    const block = digestsAhead(extras.ahead?.get(name), pieces);
    if (block) {
      out.push(entryOf(name, size, pieces, block));
      continue;
    }
    const read = pagemaps.bytes.get(name);
    if (read?.length === size) {
      out.push({ name, size, pieces, alg: MANIFEST_HASH, digests: pieces.map((p) => digestOf(MANIFEST_HASH, read.subarray(p.offset, p.offset + p.length))) });
      continue;
    }
    const digests: Buffer[] = [];
    hashPieces(fileOf(name), MANIFEST_HASH, pieces, (_, d) => (digests.push(d), true));
    out.push({ name, size, pieces, alg: MANIFEST_HASH, digests });
  }
  for (const name of extras.elsewhere ?? []) if (!sizes.has(name)) out.push({ name, size: 0, pieces: [], alg: MANIFEST_HASH, digests: [], elsewhere: true });
  return out;
}

function toMessage(e: ManifestEntry): MessageValue {
  const v: MessageValue = { name: e.name, size: BigInt(e.size) };
  if (e.elsewhere) {
    v.elsewhere = true;
    return v;
  }
  v.lengths = e.pieces.map((p) => p.length);
  v[e.alg] = digestBlock(e);
  if (e.pieces.some((p) => p.vaddr !== undefined)) v.vaddrs = e.pieces.map((p) => p.vaddr ?? 0n);
  return v;
}

/**
 * Hashes every image of `dir` and writes its manifest (0600) under a temporary name, renamed into
 * place: a manifest is whole or absent.
 */
export function writeManifest(dir: string, extras: ManifestExtras = {}): void {
  const file = path.join(dir, CRYO_MANIFEST_IMAGE);
  const tmp = `${file}.part`;
  let taken = () => {};
  try {
    writeCryoImage(tmp, CRYO_MANIFEST_MAGIC, cryo_manifest_entry, computeManifest(dir, extras).map(toMessage));
    taken = guardFile(tmp);
    renameSync(tmp, file);
  } finally {
    taken();
    rmSync(tmp, { force: true });
  }
}

export class ManifestError extends Error {}

/** The manifest of `dir`; undefined when it has none (a dump by CRIU or by an older cryo). Throws ManifestError when it is damaged. */
export function readManifest(dir: string): ManifestEntry[] | undefined {
  const file = path.join(dir, CRYO_MANIFEST_IMAGE);
  let raw: MessageValue[] | undefined;
  try {
    raw = readCryoImage(file, CRYO_MANIFEST_MAGIC, cryo_manifest_entry, 'cryo-manifest');
  } catch (e) {
    throw new ManifestError(`${file} is damaged (${(e as Error).message}): the images cannot be checked; dump again`);
  }
  if (raw === undefined) return undefined;
  return raw.map((v) => {
    const name = String(v.name);
    const size = Number(v.size);
    if (v.elsewhere === true) return { name, size, pieces: [], alg: MANIFEST_HASH, digests: [], elsewhere: true };
    const lengths = (v.lengths as number[] | undefined) ?? [];
    const vaddrs = (v.vaddrs as bigint[] | undefined) ?? [];
    const bad = (why: string) => new ManifestError(`${file} is damaged (${name}: ${why}): the images cannot be checked; dump again`);
    if (v.sha256 !== undefined && v.blake3 !== undefined) throw bad('digests of two algorithms');
    const alg: HashAlg = v.sha256 !== undefined ? 'sha256' : 'blake3';
    const sha = (v[alg] as Buffer | undefined) ?? Buffer.alloc(0);
    if (name.includes('/') || name === '' || name === '.' || name === '..') throw bad('not a file name');
    if (sha.length !== lengths.length * DIGEST) throw bad(`${lengths.length} pieces but ${sha.length} bytes of digests`);
    if (vaddrs.length !== 0 && vaddrs.length !== lengths.length) throw bad(`${lengths.length} pieces but ${vaddrs.length} addresses`);
    const pieces: Piece[] = new Array(lengths.length);
    let off = 0;
    for (let i = 0; i < lengths.length; i++) {
      const length = lengths[i]!;
      pieces[i] = vaddrs.length > 0 ? { offset: off, length, vaddr: vaddrs[i]! } : { offset: off, length };
      off += length;
    }
    if (off !== size) throw bad(`pieces of ${off} bytes for ${size}`);
    return entryOf(name, size, pieces, sha, alg);
  });
}

/** Where a piece is, for messages: its byte range, and the address of its pages. */
export function describePiece(p: Piece): string {
  const at = `bytes ${p.offset}-${p.offset + p.length - 1}`;
  return p.vaddr === undefined ? at : `${at} (pages from 0x${p.vaddr.toString(16)})`;
}

/** The first piece of `file` whose bytes differ from the manifest's, or undefined. */
function firstDifference(file: string, e: ManifestEntry): Piece | undefined {
  let bad: Piece | undefined;
  hashPieces(file, e.alg, e.pieces, (i, d) => {
    if (d.equals(e.digests[i]!)) return true;
    bad = e.pieces[i];
    return false;
  });
  return bad;
}

/** An image whose bytes are left to be hashed later (verifyInWorker), its size and presence checked. */
export interface DeferredImage { file: string; entry: ManifestEntry }

/**
 * Checks `dir` against its manifest: one line per problem (an image altered, cut, missing, or not
 * in the manifest); [] when every image is as dumped. undefined when `dir` has no manifest. The
 * bytes of images `defer` picks are not read: they are pushed to `deferred` (with `defer` unset, none).
 */
export function checkManifest(dir: string, defer?: (e: ManifestEntry) => boolean, deferred: DeferredImage[] = []): string[] | undefined {
  const entries = readManifest(dir);
  if (entries === undefined) return undefined;
  const problems: string[] = [];
  const listed = new Set(entries.map((e) => e.name));
  for (const e of entries) {
    if (e.elsewhere) continue;
    const file = path.join(dir, e.name);
    let size: number;
    try {
      const st = lstatSync(file);
      if (!st.isFile()) {
        problems.push(`${file} is not a regular file (the dump wrote one)`);
        continue;
      }
      size = st.size;
    } catch {
      problems.push(`${file} is missing (the dump wrote it: ${e.size} bytes)`);
      continue;
    }
    if (size === e.size && defer?.(e)) {
      deferred.push({ file, entry: e });
      continue;
    }
    // A piece that differs is named first: an image cut short or grown names where its bytes stop matching.
    const common = e.pieces.filter((p) => p.offset + p.length <= size);
    const bad = firstDifference(file, { ...e, pieces: common });
    if (bad !== undefined) problems.push(differs(file, bad, e.alg));
    else if (size !== e.size) problems.push(`${file} has ${size} bytes, the dump wrote ${e.size}: it was ${size < e.size ? 'cut short' : 'added to'} at byte ${Math.min(size, e.size)}`);
  }
  for (const n of readdirSync(dir).sort()) {
    if (isImageName(n) && !listed.has(n) && existsSync(path.join(dir, n))) problems.push(`${path.join(dir, n)} is not in ${CRYO_MANIFEST_IMAGE}: the dump did not write it`);
  }
  return problems;
}

export function differs(file: string, p: Piece, alg: HashAlg): string {
  return `${file}: ${describePiece(p)} differ from what the dump wrote (${HASH_NAME[alg]})`;
}

/** Whether `bytes` are what `e` says piece `i` held (a reader checking one piece alone: lazy pages). */
export function pieceMatches(e: ManifestEntry, i: number, bytes: Uint8Array): boolean {
  return bytes.length === e.pieces[i]?.length && digestOf(e.alg, bytes).equals(e.digests[i]!);
}
