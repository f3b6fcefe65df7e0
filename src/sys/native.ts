/**
 * Loads cryo's N-API addon (build/cryo_sys.node, built by scripts/build-native.mjs) lazily,
 * so pure modules (errno table, status decoders) work without it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the raw syscall entry accepts: a Buffer or TypedArray passes the address of its data. */
export type SysArg = number | bigint | Buffer | ArrayBufferView | null | undefined;

/** Options of the addon's spawn; see spawn.ts for the public, documented form. */
export interface NativeSpawnOptions {
  path: string;
  argv: string[];
  env: string[];
  setTid: number[];
  traceMe: boolean;
  stopBeforeExec: boolean;
  dieWithParent: boolean;
  keepFds: number[];
  cwd: string | null;
}

/** An error thrown by the addon: a plain Error carrying the errno and the C call that failed. */
export interface NativeError extends Error {
  errno: number;
  syscall: string;
}

/** The addon's numbers of the hash algorithms (native/cryo_digest.c). */
export const DIGEST_SHA256 = 0;
export const DIGEST_BLAKE3 = 1;

/** A hasher of native/cryo_hasher.c (an opaque handle). */
export type NativeHasher = { readonly __nativeHasher: unique symbol };

/** The C side, exactly as native/cryo_sys.c exports it. */
export interface NativeAddon {
  /** syscall(nr, a0..a5): the result as a signed 64-bit bigint; throws a NativeError on -1/errno. */
  syscall(nr: number, ...args: SysArg[]): bigint;
  /** splice(2) of `bytes` from `from` to `to`, at most `piece` per call: the bytes moved (fewer where a splice moved none); throws a NativeError on failure. */
  spliceAll(from: number, to: number, bytes: number, piece: number): number;
  /** The address of a Buffer's / TypedArray's first byte. */
  addressOf(buf: ArrayBufferView | ArrayBuffer): bigint;
  /** libc's mmap in this process (the address as an unsigned bigint); throws a NativeError on MAP_FAILED. */
  mmap(addr: SysArg, len: SysArg, prot: SysArg, flags: SysArg, fd: SysArg, offset: SysArg): bigint;
  /** clone3 (+ set_tid) then execve in the child; returns the child PID. */
  spawn(opts: NativeSpawnOptions): number;
  /**
   * The digest (32 bytes) of `bytes` by algorithm `alg` (DIGEST_SHA256 or DIGEST_BLAKE3);
   * undefined where the process cannot compute it (SHA-256 without OpenSSL's SHA256()).
   */
  digest(alg: number, bytes: Uint8Array): Buffer | undefined;
  /**
   * The digests of consecutive pieces of file `fd` from byte `offset` (32 bytes each into `out`):
   * how many the file held, or -1 where the process cannot compute `alg`.
   */
  digestPieces(alg: number, fd: number, offset: number, lengths: Uint32Array, out: Buffer): number;
  /**
   * digestPieces on libuv's thread pool: calls back with (errno or 0, pieces hashed); -1 (and no
   * call back) where the process cannot compute `alg`. `out` and `fd` are in use until the call back.
   */
  digestPiecesAsync(alg: number, fd: number, offset: number, lengths: Uint32Array, out: Buffer, done: (errno: number, hashed: number) => void): number;
  /**
   * A thread of its own hashing pieces of files as they are added (native/cryo_hasher.c), with
   * `idle` SCHED_IDLE until hasherFinish.
   */
  hasherStart(idle: boolean): NativeHasher;
  /** The hasher's own copy of `fd` (open for reading), its pieces hashed by `alg`, to name in hasherAdd; throws ENOSYS where `alg` cannot be computed. */
  hasherFile(h: NativeHasher, fd: number, alg: number): number;
  /** Pieces (at most 4 MiB each) lying back to back from `offset` in hasherFile's `file`. */
  hasherAdd(h: NativeHasher, file: number, offset: number, lengths: Uint32Array): void;
  /** Every piece's digest (32 bytes each, in the order added), hashing the rest on this thread too; throws a read error. */
  hasherFinish(h: NativeHasher): Buffer;
  /** Ends the hasher's thread and closes its files. */
  hasherStop(h: NativeHasher): void;
  /**
   * [pid, status] of wait4(pid, options): a look first, then blocked in the kernel at most
   * `timeoutMs` (a timer's signal cuts it short); [0, 0] when nothing came in time.
   */
  waitStop(pid: number, options: number, timeoutMs: number): [number, number];
  /**
   * /proc/PID/smaps at `path` parsed (native/cryo_smaps.c): [records, strings, count] (the record
   * layout: src/proc/maps.ts), or [undefined, line] for a line it cannot take; throws a read error.
   */
  smapsRead(path: string): [Buffer, Buffer, number] | [undefined, string];
  /** smapsRead on libuv's thread pool: `done` gets errno 0 and its result, or the read's errno. */
  smapsReadAsync(path: string, done: (errno: number, got: [Buffer, Buffer, number] | [undefined, string] | undefined) => void): void;
  /**
   * Pages copied from files into task `pid` by `threads` threads (native/cryo_fill.c): `count`
   * records of 32 bytes in `runs` (address, file offset, length as uint64, index into `fds` as
   * uint32). undefined when all are in place, else [what (1 the file ended, 2 a read error, 3 a
   * write into the task failed), run, bytes into it, errno, bytes done of that piece].
   */
  fillPages(pid: number, fds: Int32Array, runs: Buffer, count: number, threads: number): [number, number, number, number, number] | undefined;
  /** x86 only: [eax, ebx, ecx, edx] of cpuid(leaf, subleaf). */
  cpuid?: (leaf: number, subleaf: number) => [number, number, number, number];
  /** x86 only: xgetbv(index) as a bigint (XCR0 for index 0). */
  xgetbv?: (index: number) => bigint;
}

/** The package's build/ directory, where scripts/build-native.mjs puts what it compiles. */
export function buildDir(): string {
  // Walk up from this file (src/sys, dist*/src/sys or the bundle) to the directory holding package.json.
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'build');
    if (path.dirname(dir) === dir) return path.resolve('build');
  }
}

/** Where the addon is (a worker thread loads it by this name). */
export function findAddon(): string {
  return process.env.CRYO_NATIVE_ADDON || path.join(buildDir(), 'cryo_sys.node');
}

let addon: NativeAddon | undefined;

/** The loaded addon; a clear one-line error when it has not been built. */
export function native(): NativeAddon {
  if (addon) return addon;
  const file = findAddon();
  if (!existsSync(file)) {
    throw new Error(`cryo's native addon is missing (${file}): run \`node scripts/build-native.mjs\` (needs gcc and Node's headers)`);
  }
  addon = createRequire(import.meta.url)(file) as NativeAddon;
  return addon;
}
