// The setup flags that change a ring's memory layout (SQE128, CQE32, NO_SQARRAY) and the one the
// program reads in the SQ flags word (TASKRUN_FLAG): no fdinfo line names them, but fdinfo lists
// the SQEs and CQEs between head and tail, 128-byte SQEs with their second half (", e0:"),
// 32-byte CQEs with theirs (", extra1:"), and no SQE at all without an SQ array. cryo makes one
// entry look pending for the time of one fdinfo read, in its own mapping of the ring (the task
// is frozen), and puts the indexes back.
import { readProcText, procPath } from '../proc/read.js';
import { AT, auxvValue, readAuxv } from '../proc/auxv.js';
import { addressOf, mmapOwn, processVmReadv, processVmWritev, rawSyscall, sleepSync } from '../sys/index.js';
import { DumpError } from '../shared/dump-error.js';
import { MAP_SHARED, PROT_READ, PROT_WRITE } from '../arch/mman.js';
import { readU32, writeU32 } from '../sys/native-endian.js';
import { OFF_SQES, OFF_SQ_RING, PARAMS, PARAMS_SIZE, SETUP, SQE_SIZE, SQ_NEED_WAKEUP, SQ_TASKRUN, ringOffsets, type RingOffsets } from './io-uring-abi.js';
import type { IoUringFdinfo } from '../proc/io-uring-fdinfo.js';

/** How long cryo waits for an SQPOLL thread to go to sleep before it looks at the SQ. */
const SQPOLL_SLEEP_WAIT_MS = 3000;
const self = process.pid;

/** The offsets the kernel gives a ring of these sizes (a ring of cryo's own, closed at once). */
export function offsetsFor(sqEntries: number, cqEntries: number, flags: number, why: string): RingOffsets {
  const p = Buffer.alloc(PARAMS_SIZE);
  writeU32(p, flags | SETUP.CQSIZE, PARAMS.flags);
  writeU32(p, cqEntries, PARAMS.cqEntries);
  let fd: number;
  try {
    fd = Number(rawSyscall('io_uring_setup', sqEntries, addressOf(p)));
  } catch (e) {
    throw new DumpError('FAILED', `${why}: cryo cannot set up a ring like it to learn its layout (${(e as Error).message})`);
  }
  rawSyscall('close', fd);
  return ringOffsets(p);
}

/** cryo's own shared mapping of an area of the ring (the kernel gives as many pages as the area has). */
export function mapOwn(stolen: number, len: number, off: bigint): bigint {
  return mmapOwn(0, len, PROT_READ | PROT_WRITE, MAP_SHARED, stolen, off);
}

/** The lines fdinfo lists under a section ('SQEs' or 'CQEs'). */
function listed(text: string, section: string): string[] {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`${section}:`));
  const out: string[] = [];
  for (let i = at + 1; at >= 0 && i < lines.length && /^\s+\d+:/.test(lines[i]!); i++) out.push(lines[i]!);
  return out;
}

export interface LayoutInput {
  pid: number; fd: number; stolen: number; info: IoUringFdinfo; sqpoll: boolean; why: string;
  /** Runs while the CQ ring looks empty (its head at its tail): true adds IORING_SETUP_IOPOLL. */
  polled?: () => boolean;
  /** Wakes the ring's SQPOLL thread (io_uring_enter with IORING_ENTER_SQ_WAKEUP). */
  wake?: () => void;
}

/** How long cryo times an SQPOLL thread's idle spin before it gives up (the ring gets the kernel's 1 s). */
const IDLE_MEASURE_MS = 3000;
/** Tries at timing the idle spin: a try cryo was descheduled in gives only loose bounds. */
const IDLE_TRIES = 5;
/** How long a try waits to see the woken thread awake. */
const WAKE_SEEN_MS = 300;

/**
 * sq_thread_idle: woken with nothing to do, the SQPOLL thread spins that long, then sets NEED_WAKEUP and
 * sleeps again. The flag cleared somewhere between the wake call and the first poll that saw it clear, and
 * set between the last poll that saw it clear and the first that saw it set: each try bounds the spin by
 * those polls, and the tightest try counts (a busy machine stretches the gaps between polls). A thread
 * never seen awake spins for less than a poll: 1 ms.
 */
function measureIdle(awake: () => boolean, wake: () => void): number | undefined {
  let best: { lo: number; hi: number } | undefined;
  const now = () => Number(process.hrtime.bigint()) / 1e6;
  for (let i = 0; i < IDLE_TRIES; i++) {
    const woken = now();
    const end = woken + IDLE_MEASURE_MS;
    wake();
    let seenAwake: number | undefined;
    while (now() < woken + WAKE_SEEN_MS) { if (awake()) { seenAwake = now(); break; } sleepSync(0.2); }
    if (seenAwake === undefined) continue;
    let lastAwake = seenAwake;
    let seenAsleep: number | undefined;
    for (;;) {
      const t = now();
      if (!awake()) { seenAsleep = t; break; }
      lastAwake = t;
      if (t > end) break;
      sleepSync(1);
    }
    if (seenAsleep === undefined) return undefined;
    const b = { lo: lastAwake - seenAwake, hi: seenAsleep - woken };
    if (best === undefined || b.hi - b.lo < best.hi - best.lo) best = b;
    if (best.hi - best.lo <= Math.max(3, best.hi / 10)) break;
  }
  return best === undefined ? 1 : Math.max(1, Math.round((best.lo + best.hi) / 2));
}

export interface Layout { flags: number; sqThreadIdle?: number }

/**
 * SQE128, CQE32, NO_SQARRAY and TASKRUN_FLAG as the ring has them (flags to add to the dumped
 * ones), IOPOLL through x.polled, and an SQPOLL thread's idle time through x.wake.
 */
export function ringLayout(x: LayoutInput): Layout {
  const { info, why } = x;
  const plain = offsetsFor(info.sqEntries, info.cqEntries, 0, why);
  const big = offsetsFor(info.sqEntries, info.cqEntries, SETUP.CQE32, why);
  const len = big.sq.array + info.sqEntries * 4;
  const base = mapOwn(x.stolen, len, OFF_SQ_RING);
  const fdinfo = () => readProcText(procPath(x.pid, `fdinfo/${x.fd}`));
  const read = (off: number): number | undefined => {
    const b = processVmReadv(self, base + BigInt(off), 4);
    return b.length === 4 ? readU32(b, 0) : undefined;
  };
  const write = (off: number, v: number): boolean => {
    const b = Buffer.alloc(4);
    writeU32(b, v >>> 0, 0);
    return processVmWritev(self, base + BigInt(off), b) === 4;
  };
  let flags = 0;
  try {
    const sqFlags = read(plain.sq.flags) ?? 0;
    if (sqFlags & SQ_TASKRUN) flags |= SETUP.TASKRUN_FLAG;

    // CQE32: the CQ head one back makes the last CQE pending.
    const cqHead = read(plain.cq.head)!;
    let cqes: string[];
    write(plain.cq.head, cqHead - 1);
    try { cqes = listed(fdinfo(), 'CQEs'); } finally { write(plain.cq.head, cqHead); }
    if (cqes.length === 0) throw new DumpError('FAILED', `${why}: its fdinfo lists no CQE where one is pending: cryo cannot tell its CQE size`);
    if (cqes.some((l) => l.includes(', extra1:'))) flags |= SETUP.CQE32;
    if (x.polled) {
      const cqTail = read(plain.cq.tail)!;
      write(plain.cq.head, cqTail);
      try { if (x.polled()) flags |= SETUP.IOPOLL; } finally { write(plain.cq.head, cqHead); }
    }

    // The SQ: the entry at the head pending, its SQ array slot (if it has an array) naming SQE 0.
    if (x.sqpoll) {
      // Its SQPOLL thread submits what it finds pending unless it sleeps (it sleeps until woken).
      const end = Date.now() + SQPOLL_SLEEP_WAIT_MS;
      while (((read(plain.sq.flags) ?? 0) & SQ_NEED_WAKEUP) === 0) {
        if (Date.now() > end) throw new DumpError('BUSY', `${why} has an SQPOLL thread that did not go to sleep within ${SQPOLL_SLEEP_WAIT_MS / 1000} s (sq_thread_idle longer, or requests keep coming): cryo cannot look at its SQE layout; dump again when the ring is idle`);
        sleepSync(5);
      }
    }
    const arrayOff = ((flags & SETUP.CQE32) ? big : plain).sq.array + 4 * ((info.sqHead & (info.sqEntries - 1)) >>> 0);
    const head = read(plain.sq.head)!;
    const tail = read(plain.sq.tail)!;
    const slot = read(arrayOff);
    let sqes: string[];
    try {
      if (slot !== undefined) write(arrayOff, 0);
      if (tail === head) write(plain.sq.tail, head + 1);
      sqes = listed(fdinfo(), 'SQEs');
    } finally {
      write(plain.sq.tail, tail);
      if (slot !== undefined) write(arrayOff, slot);
    }
    if (sqes.length > 0) {
      if (sqes.some((l) => l.includes(', e0:'))) flags |= SETUP.SQE128;
    } else {
      // No SQ array: fdinfo lists no SQE; the size of the SQE area then tells SQE128 where it can.
      flags |= SETUP.NO_SQARRAY;
      if (sqe128ByArea(x.stolen, info.sqEntries, why)) flags |= SETUP.SQE128;
    }
    if (x.sqpoll && x.wake) {
      const idle = measureIdle(() => ((read(plain.sq.flags) ?? 0) & SQ_NEED_WAKEUP) === 0, x.wake);
      if (idle !== undefined) return { flags, sqThreadIdle: idle };
    }
  } finally {
    rawSyscall('munmap', base, len);
  }
  return { flags };
}

/** Whether the SQE area holds 128-byte SQEs, from how many bytes of it the kernel maps. */
function sqe128ByArea(stolen: number, entries: number, why: string): boolean {
  const want = entries * SQE_SIZE * 2;
  const at = mapOwn(stolen, want, OFF_SQES);
  let got: number;
  let page: number;
  try {
    got = processVmReadv(self, at, want).length;
  } finally {
    rawSyscall('munmap', at, want);
  }
  // The kernel maps ring areas in its pages (a read past a one-byte mapping would run on into
  // whatever cryo has mapped next to it).
  page = Number(auxvValue(readAuxv('self'), AT.AT_PAGESZ!) ?? 4096n);
  const pages = (n: number) => Math.ceil(n / page) * page;
  if (pages(entries * SQE_SIZE) === pages(want)) {
    throw new DumpError('UNSUPPORTED', `${why} was set up with IORING_SETUP_NO_SQARRAY and its ${entries} SQEs fit one size of area whether they are 64 or 128 bytes (IORING_SETUP_SQE128): cryo cannot tell which, and a wrong guess would garble every request`);
  }
  return got >= want;
}
