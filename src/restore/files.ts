// Descriptors, working directory, root and umask, opened inside the task by
// injected calls so the task owns them exactly as a process that opened them.

import { readdirSync } from 'node:fs';
import type { MessageValue } from '../images/value.js';
import { RestoreError } from './errors.js';
import { openInTask } from './memory.js';
import { regFile } from './preflight.js';
import { finishShmem, restoreMemfdFd, shmemFds } from './shmem.js';
import type { TaskCtx } from './task-ctx.js';

/** Open flags the kernel drops after open; passing them again would create or truncate. */
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const O_NOCTTY = 0o400;
const O_TRUNC = 0o1000;
const O_CLOEXEC = 0o2000000;
const O_PATH = 0o10000000;
const FD_CLOEXEC = 1;
const SEEK_SET = 0;
const F_SETFD = 2;
const F_SETOWN_EX = 15;
const F_SETSIG = 10;
const F_SETFL = 4;
const F_DUPFD_CLOEXEC = 1030;
const F_SETPIPE_SZ = 1031;
const O_NONBLOCK = 0o4000;
const O_ACCMODE = 3;
const O_RDWR = 2;
const DEFAULT_PIPE_SIZE = 65536;
/** Where pipe data is staged in the scratch area, and how much at a time. */
const PIPE_CHUNK_AT = 8192;
const PIPE_CHUNK = 8192;

/** A pipe made in the task, both ends parked above every target fd until the targets are placed. */
interface TaskPipe { r: number; w: number }

/** pipe data by pipe_id (pipes-data.img or fifo-data.img: entries with their bytes as extra). */
function pipeData(ctx: TaskCtx, image = 'pipes-data.img'): Map<number, { data: Buffer; size: number }> {
  const out = new Map<number, { data: Buffer; size: number }>();
  for (const e of ctx.img.all.get(image)?.entries ?? []) {
    const data = Buffer.isBuffer(e.extra) ? e.extra : Buffer.alloc(0);
    out.set(Number(e.value.pipe_id), { data, size: Number(e.value.size ?? DEFAULT_PIPE_SIZE) });
  }
  return out;
}

function makePipe(ctx: TaskCtx, pipeId: number, high: number, data: { data: Buffer; size: number } | undefined): TaskPipe {
  const fds = Buffer.alloc(8);
  const at = ctx.put(fds, 256);
  ctx.call('pipe2', at, O_CLOEXEC);
  const got = ctx.get(256, 8);
  const park = (fd: number) => { const hi = Number(ctx.call('fcntl', fd, F_DUPFD_CLOEXEC, high)); ctx.call('close', fd); return hi; };
  const p = { r: park(got.readInt32LE(0)), w: park(got.readInt32LE(4)) };
  fillPipe(ctx, p.w, `pipe ${pipeId}`, data);
  return p;
}

/** Puts the buffer size and the queued bytes of a pipe or FIFO back, through a write end in the task. */
function fillPipe(ctx: TaskCtx, w: number, what: string, data: { data: Buffer; size: number } | undefined): void {
  if (!data) return;
  if (data.size !== DEFAULT_PIPE_SIZE) ctx.call('fcntl', w, F_SETPIPE_SZ, data.size);
  for (let off = 0; off < data.data.length; ) {
    const chunk = data.data.subarray(off, off + PIPE_CHUNK);
    const n = Number(ctx.call('write', w, ctx.put(chunk, PIPE_CHUNK_AT), chunk.length));
    if (n <= 0) throw new RestoreError('FAILED', `cannot refill ${what}: write returned ${n}`);
    off += n;
  }
}

/**
 * A FIFO's ends are opened by path. A reader+writer end held by cryo (parked high) comes first:
 * with it, opening either end does not block, and the FIFO's buffer is kept while the ends are placed.
 */
function fifoHolder(ctx: TaskCtx, fifo: MessageValue, high: number, data: { data: Buffer; size: number } | undefined): number {
  const reg = regFile(ctx.img, Number(fifo.regf_id), `FIFO ${fifo.pipe_id}`);
  const fd = openInTask(ctx, String(reg.name), O_RDWR | O_NONBLOCK | O_CLOEXEC, `FIFO ${reg.name}`);
  const hi = Number(ctx.call('fcntl', fd, F_DUPFD_CLOEXEC, high));
  ctx.call('close', fd);
  fillPipe(ctx, hi, `FIFO ${reg.name}`, data);
  return hi;
}

function restoreFifoFd(ctx: TaskCtx, fdi: MessageValue, fifo: MessageValue): void {
  const target = Number(fdi.fd);
  const reg = regFile(ctx.img, Number(fifo.regf_id), `fd ${target}`);
  const flags = Number(reg.flags) & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC);
  const fd = openInTask(ctx, String(reg.name), flags | O_NONBLOCK, `fd ${target}`);
  if (!(flags & O_NONBLOCK)) ctx.call('fcntl', fd, F_SETFL, flags & ~O_NONBLOCK & ~O_ACCMODE);
  const cloexec = (Number(fdi.flags) & FD_CLOEXEC) !== 0;
  if (fd !== target) {
    ctx.call('dup3', fd, target, cloexec ? O_CLOEXEC : 0);
    ctx.call('close', fd);
  } else if (cloexec) {
    ctx.call('fcntl', target, F_SETFD, FD_CLOEXEC);
  }
}

/** Closes every descriptor the stub has (normally none). */
function closeStubFds(ctx: TaskCtx): void {
  let fds: number[] = [];
  try {
    fds = readdirSync(`/proc/${ctx.pid}/fd`).map(Number);
  } catch { /* none */ }
  // Memory restore keeps the memfd/shmem inodes open for the descriptors made here.
  const keep = new Set(shmemFds(ctx));
  for (const fd of fds) if (!keep.has(fd)) ctx.call('close', fd);
}

function restorePipeFd(ctx: TaskCtx, fdi: MessageValue, pipe: MessageValue, end: number): void {
  const target = Number(fdi.fd);
  const cloexec = (Number(fdi.flags) & FD_CLOEXEC) !== 0;
  ctx.call('dup3', end, target, cloexec ? O_CLOEXEC : 0);
  const flags = Number(pipe.flags);
  if (flags & O_NONBLOCK) ctx.call('fcntl', target, F_SETFL, O_NONBLOCK);
}

function restoreFd(ctx: TaskCtx, fdi: MessageValue, opened: Map<number, number>): void {
  const target = Number(fdi.fd);
  const why = `fd ${target}`;
  const cloexec = (Number(fdi.flags) & FD_CLOEXEC) !== 0;
  // Descriptors of one file id share one open file description (offset, flags), as dup made them.
  const twin = opened.get(Number(fdi.id));
  if (twin !== undefined) {
    ctx.call('dup3', twin, target, cloexec ? O_CLOEXEC : 0);
    return;
  }
  opened.set(Number(fdi.id), target);
  const reg = regFile(ctx.img, Number(fdi.id), why);
  const flags = Number(reg.flags) & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC);
  const fd = openInTask(ctx, String(reg.name), flags, why);
  const pos = BigInt(reg.pos as bigint);
  if (pos !== 0n) {
    const r = ctx.raw('lseek', fd, pos, SEEK_SET);
    if (r < 0n) throw new RestoreError('FAILED', `cannot seek ${reg.name} (${why}) to ${pos}: errno ${-r}`);
  }
  if (fd !== target) {
    ctx.call('dup3', fd, target, cloexec ? O_CLOEXEC : 0);
    ctx.call('close', fd);
  } else if (cloexec) {
    ctx.call('fcntl', target, F_SETFD, FD_CLOEXEC);
  }
  const fown = reg.fown as MessageValue | undefined;
  if (fown && Number(fown.pid) !== 0) {
    // struct f_owner_ex { int type; pid_t pid; }
    const b = Buffer.alloc(8);
    b.writeInt32LE(Number(fown.pid_type), 0);
    b.writeInt32LE(Number(fown.pid), 4);
    ctx.call('fcntl', target, F_SETOWN_EX, ctx.put(b, 256));
  }
  if (fown && Number(fown.signum) !== 0) ctx.call('fcntl', target, F_SETSIG, Number(fown.signum));
}

/** cwd, root and umask (fs-PID.img). */
function restoreFs(ctx: TaskCtx): void {
  const fs = ctx.img.fs;
  if (!fs) return;
  // Both paths are as cryo sees them (from its root): change directory before chroot, which keeps it.
  const cwd = regFile(ctx.img, Number(fs.cwd_id), 'the working directory');
  const fd = openInTask(ctx, String(cwd.name), O_PATH | O_CLOEXEC, 'the working directory');
  try {
    ctx.call('fchdir', fd);
  } finally {
    ctx.call('close', fd);
  }
  const root = regFile(ctx.img, Number(fs.root_id), 'the root directory');
  if (String(root.name) !== '/') {
    const at = ctx.putString(String(root.name));
    ctx.call('chroot', at);
  }
  if (fs.umask !== undefined) ctx.call('umask', Number(fs.umask));
}

export function restoreFiles(ctx: TaskCtx): void {
  closeStubFds(ctx);
  // Lowest target first: openat returns the lowest free number, never one already placed.
  const fds = [...ctx.img.fdinfo].sort((a, b) => Number(a.fd) - Number(b.fd));
  const opened = new Map<number, number>();
  const high = Math.max(0, ...fds.map((f) => Number(f.fd))) + 1;
  const pipes = new Map<number, TaskPipe>();
  const data = pipeData(ctx);
  const fifoData = pipeData(ctx, 'fifo-data.img');
  const fifoHolders = new Map<number, number>();
  for (const fdi of fds) {
    const file = ctx.img.files.get(Number(fdi.id))!;
    if (file.type === 'FIFO') {
      const fifo = file.fifo as MessageValue;
      const id = Number(fifo.pipe_id);
      if (!fifoHolders.has(id)) fifoHolders.set(id, fifoHolder(ctx, fifo, high, fifoData.get(id)));
      const twin = opened.get(Number(fdi.id));
      if (twin !== undefined) ctx.call('dup3', twin, Number(fdi.fd), (Number(fdi.flags) & FD_CLOEXEC) ? O_CLOEXEC : 0);
      else restoreFifoFd(ctx, fdi, fifo);
      opened.set(Number(fdi.id), Number(fdi.fd));
      continue;
    }
    if (file.type === 'MEMFD') {
      const twin = opened.get(Number(fdi.id));
      if (twin !== undefined) ctx.call('dup3', twin, Number(fdi.fd), (Number(fdi.flags) & FD_CLOEXEC) ? O_CLOEXEC : 0);
      else restoreMemfdFd(ctx, fdi, file.memfd as MessageValue);
      opened.set(Number(fdi.id), Number(fdi.fd));
      continue;
    }
    if (file.type !== 'PIPE') {
      restoreFd(ctx, fdi, opened);
      continue;
    }
    const pipe = file.pipe as MessageValue;
    const id = Number(pipe.pipe_id);
    let p = pipes.get(id);
    if (!p) pipes.set(id, p = makePipe(ctx, id, high, data.get(id)));
    // Descriptors of one file id share their open file description; a pipe's ends are two of them.
    const twin = opened.get(Number(fdi.id));
    if (twin !== undefined) ctx.call('dup3', twin, Number(fdi.fd), (Number(fdi.flags) & FD_CLOEXEC) ? O_CLOEXEC : 0);
    else restorePipeFd(ctx, fdi, pipe, (Number(pipe.flags) & O_ACCMODE) === 0 ? p.r : p.w);
    opened.set(Number(fdi.id), Number(fdi.fd));
  }
  for (const p of pipes.values()) { ctx.call('close', p.r); ctx.call('close', p.w); }
  for (const h of fifoHolders.values()) ctx.call('close', h);
  finishShmem(ctx);
  restoreFs(ctx);
}
