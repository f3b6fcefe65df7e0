// The bytes queued in pipes and FIFOs (pipes-data.img, fifo-data.img), put back through a write end.
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import type { FdRestoreSession } from './kind.js';
import { F_SETPIPE_SZ } from '../shared/constants.js';

const DEFAULT_PIPE_SIZE = 65536;
/** Where pipe data is staged in the scratch area, and how much at a time. */
const PIPE_CHUNK_AT = 8192;
const PIPE_CHUNK = 8192;

export interface PipeData { data: Buffer; size: number }

/** Data by pipe_id from `image` (entries with their bytes as extra), read once per restore. */
export function pipeData(s: FdRestoreSession, image: 'pipes-data.img' | 'fifo-data.img'): Map<number, PipeData> {
  return s.state(image, () => {
    const out = new Map<number, PipeData>();
    for (const e of s.ctx.img.all.get(image)?.entries ?? []) {
      const data = Buffer.isBuffer(e.extra) ? e.extra : Buffer.alloc(0);
      out.set(Number(e.value.pipe_id), { data, size: Number(e.value.size ?? DEFAULT_PIPE_SIZE) });
    }
    return out;
  });
}

/** Puts the buffer size and the queued bytes of a pipe or FIFO back, through a write end in the task. */
export function fillPipe(ctx: TaskCtx, w: number, what: string, data: PipeData | undefined): void {
  if (!data) return;
  if (data.size !== DEFAULT_PIPE_SIZE) ctx.call('fcntl', w, F_SETPIPE_SZ, data.size);
  for (let off = 0; off < data.data.length; ) {
    const chunk = data.data.subarray(off, off + PIPE_CHUNK);
    const n = Number(ctx.call('write', w, ctx.put(chunk, PIPE_CHUNK_AT), chunk.length));
    if (n <= 0) throw new RestoreError('FAILED', `cannot refill ${what}: write returned ${n}`);
    off += n;
  }
}

/** Moves a task descriptor to `high` or above (close-on-exec) and returns the new number. */
export function park(ctx: TaskCtx, fd: number, high: number): number {
  const hi = Number(ctx.call('fcntl', fd, 1030 /* F_DUPFD_CLOEXEC */, high));
  ctx.call('close', fd);
  return hi;
}
