/**
 * One kind of file descriptor (a regular file, a pipe, an eventfd, ...): how it is recognised and
 * written at dump time, checked before the point of no return, and opened again in the restored
 * task. Every kind is one module in src/files/ exporting one `FdKind`, listed once in
 * src/files/registry.ts. The generic code (src/dump/files.ts, src/restore/files.ts,
 * src/restore/preflight.ts) only iterates that list: it never switches over kinds.
 *
 * To add a kind:
 *  1. Write src/files/NAME.ts exporting `const nameKind: FdKind = { ... }`.
 *     - `type` is CRIU's fd type name (images/fdinfo.proto `fd_types`), written into both
 *       file_entry.type and fdinfo_entry.type; `field` is file_entry's field for the kind's message
 *       ('reg', 'pipe', 'efd', 'epfd', ...), exactly as CRIU 4.2 names it, so crit and CRIU read it.
 *     - `matches` looks at what the dump found out about the descriptor (its /proc link, fstat,
 *       fdinfo): the first kind in the registry that matches dumps it.
 *     - `dump` returns the kind's message; generic code wraps it as {type, id, [field]: message}
 *       into files.img and adds the fdinfo entry. State that lives in other images (pipe data,
 *       ghost files, memfd inodes) goes into `c.table` (src/shared/file-table.ts), which the dump
 *       writes out. Facts CRIU's schema has no field for go into a cryo-specific image, never
 *       into CRIU's messages.
 *     - `check` (optional) throws a one-line RestoreError for anything restore could not do
 *       (a missing file, an unresolvable watch, ...): it runs in preflight, before anything exists.
 *     - `restore` opens a new descriptor of the file inside the task (by injected calls through
 *       `c.ctx`) and returns its number, any number: generic code moves it to the target number,
 *       sets FD_CLOEXEC from fdinfo and the owner (fown) from the message, and dup()s it for every
 *       other descriptor of the same file id. Work that needs every descriptor in place (epoll
 *       targets, closing helper descriptors) is queued with `c.session.later()`.
 *  2. Add it to FD_KINDS in src/files/registry.ts (order matters only for `matches`).
 *  3. A round-trip test: test/programs/rt-NAME.c + test/e2e/rt-NAME.test.ts (see rt-files.test.ts).
 */
import type { fstatSync } from 'node:fs';
import type { MessageValue } from '../images/value.js';
import type { Fdinfo, FdTarget } from '../proc/index.js';
import type { FileTable } from '../shared/file-table.js';
import type { RestoreImages } from '../shared/restore-images.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import type { FdOptions } from '../shared/fd-options.js';

export type { FdOptions };

/** What the dump knows about one descriptor of the task (the first of its open file). */
export interface DumpFd {
  /** Images being collected: files, pipe data, ghosts, memfd inodes, cryo's extra facts. */
  readonly table: FileTable;
  readonly pid: number;
  readonly fd: number;
  /** The file id given to this open file (file_entry.id). */
  readonly id: number;
  /** /proc/PID/fdinfo/FD, parsed (pos, flags, and the kind's own lines: eventfd-count, tfd, ...). */
  readonly info: Fdinfo;
  /** /proc/PID/fd/FD link, classified. */
  readonly target: FdTarget;
  /** fstat of cryo's copy of the descriptor. */
  readonly st: ReturnType<typeof fstatSync>;
  /** cryo's own copy of the descriptor (pidfd_getfd): same open file description as the task's. */
  readonly stolen: number;
  /** Owner for SIGIO (fown_entry), already read. */
  readonly fown: MessageValue;
  /** f_flags as CRIU stores them: without O_CLOEXEC (that one lives in fdinfo). */
  readonly flags: number;
  /** /proc/PID/fd/FD: opens the very file again (even deleted), from cryo. */
  readonly procFd: string;
  /**
   * Descriptors a queue holds in flight (SCM_RIGHTS), as cryo's own copies: dumped once the whole
   * tree is (or found among its files); returns the list their file ids will fill.
   */
  inFlight(fds: number[], why: string): number[];
  /** The task's threads (TIDs, the main thread first), and a raw syscall run in one of them (its result or -errno). */
  readonly threads: readonly number[];
  inThread(tid: number, name: string, ...args: (bigint | number)[]): bigint;
  /**
   * Runs every one of `calls` in thread `tid`, failures too (-errno is their result), thousands in
   * one stop: `room` is written into the task first, at the address `calls` is given. Undefined
   * where the task has no batch runner (the arch, or an ia32 task): the calls would run one by one.
   */
  eachInThread(tid: number, room: Buffer, calls: (at: bigint) => readonly { name: string; args: (bigint | number)[] }[]): bigint[] | undefined;
}

/** Shared by all descriptors of one restore. */
export interface FdRestoreSession {
  readonly ctx: TaskCtx;
  /** A descriptor number above every target: park helper descriptors at or above it. */
  readonly high: number;
  /** State a kind keeps across descriptors (e.g. a pipe's two ends), by a key of its own. */
  state<T>(key: string, init: () => T): T;
  /** Runs `fn` once every descriptor of the task is in place (in the order queued). */
  later(fn: () => void): void;
}

/** One file id to open in the restored task. */
export interface RestoreFd {
  readonly ctx: TaskCtx;
  readonly session: FdRestoreSession;
  /** The whole file_entry of files.img. */
  readonly file: MessageValue;
  /** The kind's message: file[kind.field]. */
  readonly entry: MessageValue;
  /** The fdinfo entry of the first descriptor of this file id. */
  readonly fdi: MessageValue;
  /** The descriptor number it will get. */
  readonly target: number;
  /** 'fd N', for messages. */
  readonly why: string;
}

export interface FdKind {
  /** CRIU's fd type name: file_entry.type and fdinfo_entry.type ('REG', 'PIPE', 'EVENTFD', ...). */
  readonly type: string;
  /** file_entry's field holding the kind's message ('reg', 'pipe', 'efd', ...). */
  readonly field: string;
  /** What it is, for messages: 'an eventfd'. */
  readonly name: string;

  /** Dump: whether this kind handles the descriptor (registry order decides among several). */
  matches(c: DumpFd): boolean;
  /** Dump: the kind's message for files.img (extra images' entries go into c.table). */
  dump(c: DumpFd): MessageValue;

  /** Preflight: file ids this descriptor needs on disk (checked for existence, type, size, mtime). */
  neededFiles?(entry: MessageValue): number[];
  /** Preflight: the kind of file (S_IFMT) those must be, where the descriptor kind decides it (a FIFO). */
  readonly neededType?: number;
  /** Preflight: throw a one-line RestoreError for anything `restore` could not do. */
  check?(img: RestoreImages, entry: MessageValue, why: string): void;
  /** Restore: a new descriptor of the file in the task (any number; see the module comment). */
  restore(c: RestoreFd): number;
}
