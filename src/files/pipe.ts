// Pipes (PIPE): one pipe per pipe_id made in the task, its ends parked high until every
// descriptor is placed; each file id (an open end) is a dup of its end. Dump peeks the queued
// bytes with tee() into pipes-data.img, once per pipe.
import { withReader } from '../shared/file-data.js';
import type { FdKind } from './kind.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { O_ACCMODE, O_CLOEXEC, O_DIRECT, O_NONBLOCK, F_DUPFD_CLOEXEC, F_SETFL, num } from '../shared/constants.js';
import { fillPipe, park, pipeData } from './pipe-data.js';
import { RestoreError } from '../shared/restore-error.js';
import { errnoName, AT_FDCWD } from '../sys/index.js';
import { readI32 } from '../sys/native-endian.js';


/** A pipe made in one process of the tree (`ctx`), its ends parked there until every process has its descriptors. */
interface TaskPipe { ctx: TaskCtx; r: number; w: number; taken: Set<number> }

/** CRIU's name of a pipe, as --external and --inherit-fd spell it. */
export const pipeKey = (pipeId: number) => `pipe:[${pipeId}]`;

/**
 * The caller's descriptor `fd` (cryo's own, `--inherit-fd`) opened again in the task through
 * /proc, with the dumped end's flags, as CRIU reopens an inherited pipe: the task gets the
 * caller's pipe (and whatever is queued in it), not a new one.
 */
function reopenInherited(ctx: TaskCtx, fd: number, flags: number, id: number): number {
  const at = ctx.putString(`/proc/${process.pid}/fd/${fd}`);
  const r = ctx.raw('openat', AT_FDCWD, at, (flags & (O_ACCMODE | O_NONBLOCK)) | O_CLOEXEC, 0);
  if (r < 0n) throw new RestoreError('FAILED', `${errnoName(Number(-r))} from openat(/proc/${process.pid}/fd/${fd}) in the task: cannot reopen the inherited descriptor ${fd} for ${pipeKey(id)}`);
  return Number(r);
}

/** A new open file description of a pipe end parked in `p.ctx`, opened in `ctx` with `flags`. */
function reopenEnd(ctx: TaskCtx, p: TaskPipe, end: number, flags: number, id: number): number {
  const path = `/proc/${p.ctx.pid}/fd/${end}`;
  const r = ctx.raw('openat', AT_FDCWD, ctx.putString(path), (flags & (O_ACCMODE | O_NONBLOCK)) | O_CLOEXEC, 0);
  if (r < 0n) throw new RestoreError('FAILED', `${errnoName(Number(-r))} from openat(${path}) in the task: cannot open ${pipeKey(id)} again`);
  return Number(r);
}

export const pipeKind: FdKind = {
  type: 'PIPE', field: 'pipe', name: 'a pipe',
  matches: (c) => c.target.kind === 'pipe',
  dump(c) {
    const inode = (c.target as { inode: bigint }).inode;
    withReader(c.stolen, c.flags, c.procFd, (rd) => c.table.addPipeData(false, inode, rd));
    return { id: c.id, pipe_id: Number(inode & 0xffffffffn), flags: c.flags & ~O_DIRECT, fown: c.fown };
  },
  restore({ ctx, session, entry: pipe }) {
    const id = num(pipe.pipe_id);
    const inherited = ctx.img.fdOptions?.inheritFds?.get(pipeKey(id));
    if (inherited !== undefined) return reopenInherited(ctx, inherited, num(pipe.flags), id);
    // Tree-wide: the other end may belong to another process (made here, copied there).
    const pipes = ctx.tree.state('pipes', () => new Map<number, TaskPipe>());
    let p = pipes.get(id);
    if (!p) {
      const at = ctx.put(Buffer.alloc(8), 256);
      ctx.call('pipe2', at, O_CLOEXEC);
      const got = ctx.get(256, 8);
      p = { ctx, r: park(ctx, readI32(got, 0), session.high), w: park(ctx, readI32(got, 4), session.high), taken: new Set() };
      pipes.set(id, p);
      fillPipe(ctx, p.w, `pipe ${id}`, pipeData(session, 'pipes-data.img').get(id));
      const made = p;
      ctx.tree.later(() => { ctx.call('close', made.r); ctx.call('close', made.w); });
    }
    const end = (num(pipe.flags) & O_ACCMODE) === 0 ? p.r : p.w;
    // Each file id is an open file description of its own (flags apart): the first of an end is
    // the one pipe2 made, others open that end again through /proc (as open(/proc/self/fd/N) made them).
    if (p.taken.has(end)) return reopenEnd(ctx, p, end, num(pipe.flags), id);
    p.taken.add(end);
    const fd = p.ctx === ctx ? Number(ctx.call('fcntl', end, F_DUPFD_CLOEXEC, 0)) : ctx.importFd(p.ctx, end);
    if (num(pipe.flags) & O_NONBLOCK) ctx.call('fcntl', fd, F_SETFL, O_NONBLOCK);
    return fd;
  },
};
