// libaio rings (io_setup): the dumped ring's bytes come back as plain memory at its address (with
// the other pages); then the task gets a new ring of the same size, the kernel's tail is moved to
// the dumped one by completed no-op writes to /dev/null (the kernel alone writes the tail), the
// head and the events go back, and the new ring is moved over the old bytes (the kernel follows
// an mremap of a ring: the context id is its new address).
import type { MessageValue } from '../images/value.js';
import { processVmReadv, processVmWritev, writeU16, writeU32, writeU64 } from '../sys/index.js';
import { readU64 } from '../sys/native-endian.js';
import { RestoreError } from '../shared/restore-error.js';
import { openInTask, type TaskCtx } from '../shared/task-ctx.js';
import { O_CLOEXEC, O_WRONLY } from '../shared/constants.js';
import { AIO_HEAD, AIO_HEADER_BYTES, aioHeaderProblem, aioSlots, readAioHeader } from '../shared/aio-ring.js';
import { MREMAP_FIXED, MREMAP_MAYMOVE } from '../arch/mman.js';

const IOCB_CMD_PWRITE = 1;
const IOCB_BYTES = 64;
/** iocb pointers handed to one io_submit (all the same no-op write). */
const SUBMIT_BATCH = 128;
/** Scratch layout: the context id io_setup writes, the 1-byte buffer, the iocb, then the pointer array. */
const AT_CTX = 0;
const AT_BUF = 8;
const AT_IOCB = 16;
const AT_PTRS = AT_IOCB + IOCB_BYTES;

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** The dumped rings (mm_entry.aios), each with its mapping. */
export function aioRings(img: { mm: MessageValue }): { addr: bigint; len: bigint; nrReq: number }[] {
  return ((img.mm.aios as MessageValue[] | undefined) ?? []).map((a) => ({ addr: BigInt(a.id as bigint), len: BigInt(a.ring_len as number), nrReq: Number(a.nr_req) }));
}

function iocb(fd: number, buf: bigint): Buffer {
  const b = Buffer.alloc(IOCB_BYTES);
  writeU16(b, IOCB_CMD_PWRITE, 16); // aio_lio_opcode
  writeU32(b, fd, 20); // aio_fildes
  writeU64(b, buf, 24); // aio_buf
  writeU64(b, 1n, 32); // aio_nbytes
  return b;
}

/** Makes the kernel's tail of the ring at `ctxId` reach `tail`, leaving its head at `head`. */
function moveTail(ctx: TaskCtx, ctxId: bigint, slots: number, head: number, tail: number): void {
  // Past the head the kernel counts a full turn (its completed-events count must come out right).
  const count = tail < head ? slots + tail : tail;
  const fd = openInTask(ctx, '/dev/null', O_WRONLY | O_CLOEXEC, 'no-op AIO writes');
  try {
    const cb = ctx.put(iocb(fd, ctx.scratch!.addr + BigInt(AT_BUF)), AT_IOCB);
    const ptrs = Buffer.alloc(SUBMIT_BATCH * 8);
    for (let i = 0; i < SUBMIT_BATCH; i++) writeU64(ptrs, cb, i * 8);
    const at = ctx.put(ptrs, AT_PTRS);
    const headBuf = Buffer.alloc(4);
    for (let done = 0; done < count;) {
      const n = Math.min(SUBMIT_BATCH, count - done, slots - 1);
      const r = ctx.raw('io_submit', ctxId, n, at);
      if (r <= 0n) throw new RestoreError('FAILED', `io_submit of no-op writes to the new AIO ring gave ${r < 0n ? `errno ${-r}` : 'nothing'} after ${done} of ${count}`);
      done += Number(r);
      // Consuming events is writing the head (what io_getevents does): room for the next batch.
      writeU32(headBuf, Math.min(done, head), 0);
      if (processVmWritev(ctx.pid, ctxId + BigInt(AIO_HEAD), headBuf) !== 4) throw new RestoreError('FAILED', `cannot write the head of the new AIO ring at ${hex(ctxId)}`);
    }
  } finally {
    ctx.call('close', fd);
  }
}

/** Replaces each dumped ring's bytes (already at its address) by a live ring with that state. */
export function restoreAioRings(ctx: TaskCtx): void {
  for (const ring of aioRings(ctx.img)) {
    const old = processVmReadv(ctx.pid, ring.addr, Number(ring.len));
    if (old.length !== Number(ring.len)) throw new RestoreError('FAILED', `cannot read back the dumped AIO ring at ${hex(ring.addr)}`);
    const h = readAioHeader(old);
    const bad = aioHeaderProblem(h, ring.len);
    if (bad !== undefined) throw new RestoreError('IMAGE_INCONSISTENT', `the AIO ring at ${hex(ring.addr)} in the pages image is damaged: ${bad}`);
    ctx.put(Buffer.alloc(8), AT_CTX);
    const r = ctx.raw('io_setup', ring.nrReq, ctx.scratch!.addr + BigInt(AT_CTX));
    if (r < 0n) throw new RestoreError('FAILED', `io_setup(${ring.nrReq}) for the AIO ring at ${hex(ring.addr)} failed: errno ${-r} (see /proc/sys/fs/aio-max-nr)`);
    const ctxId = readU64(ctx.get(AT_CTX, 8), 0);
    const fresh = readAioHeader(processVmReadv(ctx.pid, ctxId, AIO_HEADER_BYTES));
    if (fresh.nr !== aioSlots(ring.len)) {
      ctx.raw('io_destroy', ctxId);
      throw new RestoreError('UNSUPPORTED', `this kernel made an AIO ring of ${fresh.nr} events for the one of ${h.nr} at ${hex(ring.addr)} (more CPUs than the dumping machine?): restore on a machine like it`);
    }
    if (h.head !== 0 || h.tail !== 0) moveTail(ctx, ctxId, h.nr, h.head, h.tail);
    const now = readAioHeader(processVmReadv(ctx.pid, ctxId, AIO_HEADER_BYTES));
    if (now.head !== h.head || now.tail !== h.tail) throw new RestoreError('FAILED', `the new AIO ring for ${hex(ring.addr)} has head ${now.head} and tail ${now.tail}, not the dumped ${h.head} and ${h.tail}`);
    const events = old.subarray(AIO_HEADER_BYTES);
    if (processVmWritev(ctx.pid, ctxId + BigInt(AIO_HEADER_BYTES), events) !== events.length) throw new RestoreError('FAILED', `cannot write the events of the AIO ring at ${hex(ring.addr)}`);
    const moved = ctx.call('mremap', ctxId, ring.len, ring.len, MREMAP_MAYMOVE | MREMAP_FIXED, ring.addr);
    if (moved !== ring.addr) throw new RestoreError('FAILED', `the new AIO ring went to ${hex(moved)}, not ${hex(ring.addr)}`);
  }
}
