/**
 * The state only the task itself can tell, read by injected syscalls into the scratch page:
 * signal actions, alternate stack, itimers, POSIX timer values, clear_child_tid, pdeath signal,
 * dumpable, THP, securebits, child subreaper, membarrier registrations and the current brk.
 */
import { ENTRY_BYTES, SyscallBatch, batchesTaskCalls, runTogether, type BatchArea, type BatchCall, type BatchPlace, type Injector, type Scratch } from '../inject/index.js';
import { PARK_BYTES } from '../inject/batch-park.js';
import { processVmReadv, readU32, readU64 } from '../sys/index.js';
import type { PosixTimer } from '../proc/index.js';
import type { MessageValue } from '../images/index.js';
import { readI32 } from '../sys/native-endian.js';
import { SIGKILL, SIGMAX, SIGSTOP } from '../sys/signals.js';
import type { Arch } from '../arch/types.js';

/** A slot per signal, big enough for any ABI's struct sigaction. */
const SIGACTION_SLOT = 32;
const PR = { GET_PDEATHSIG: 2, GET_DUMPABLE: 3, GET_SECUREBITS: 27, GET_CHILD_SUBREAPER: 37, GET_TID_ADDRESS: 40, GET_THP_DISABLE: 42 };
const MEMBARRIER_CMD_GET_REGISTRATIONS = 1 << 9;
const SIGEV = { signal: 0, none: 1, thread: 2, threadId: 4 };

export interface InjectedState {
  sigactions: MessageValue[];
  sas: ThreadInjectedState["sas"];
  itimers: { real: MessageValue; virt: MessageValue; prof: MessageValue };
  posixTimers: MessageValue[];
  clearTidAddr: bigint;
  pdeathSig: number;
  dumpable: number;
  thpDisabled: boolean;
  secbits: number;
  childSubreaper: boolean;
  membarrierMask: number;
  brk: bigint;
}

/** The signals CRIU saves an action for, in its order (SIGKILL and SIGSTOP have none). */
export const SIGACTION_SIGNALS = Array.from({ length: SIGMAX }, (_, i) => i + 1).filter((s) => s !== SIGKILL && s !== SIGSTOP);

/** The rest of the scratch page, for small results. */
const TAIL = 2048;

export interface ThreadInjectedState {
  sas: { ss_sp: bigint; ss_size: bigint; ss_flags: number };
  clearTidAddr: bigint;
  pdeathSig: number;
  secbits: number;
}

type Call = BatchCall;
/** Where each small result goes in the scratch page's tail (every call its own place, so one batch can run them all). */
const AT = { sas: 0, tidAddr: 32, pdeath: 40, subreaper: 48, itimers: 64, end: 160 };

/** The calls of readThreadInjected, their results from `base` on (AT); read by threadInjectedOf. */
function threadCalls(base: bigint): Call[] {
  const at = (off: number) => base + BigInt(off);
  return [
    { name: 'sigaltstack', args: [0, at(AT.sas)] },
    { name: 'prctl', args: [PR.GET_TID_ADDRESS, at(AT.tidAddr)] },
    { name: 'prctl', args: [PR.GET_PDEATHSIG, at(AT.pdeath)] },
    { name: 'prctl', args: [PR.GET_SECUREBITS] },
  ];
}

/** `tail`: the scratch page from TAIL on; `secbits`: the result of the last of threadCalls. */
function threadInjectedOf(tail: Buffer, secbits: bigint): ThreadInjectedState {
  const ss = tail.subarray(AT.sas); // stack_t {sp, int flags, size}
  const sas = { ss_sp: readU64(ss, 0), ss_size: readU64(ss, 16), ss_flags: readI32(ss, 8) };
  return { sas, clearTidAddr: readU64(tail, AT.tidAddr), pdeathSig: readI32(tail, AT.pdeath), secbits: Number(secbits) };
}

/**
 * What each thread keeps for itself: alternate stack, clear_child_tid, pdeath signal, securebits.
 * `batch`: the process's batch runner (one stop and a call instead of eight stops).
 */
function readThreadInjected(inj: Injector, scratch: Scratch, batch?: BatchPlace): ThreadInjectedState {
  const calls = threadCalls(scratch.addr + BigInt(TAIL));
  const results = batch !== undefined ? new SyscallBatch(() => inj, batch).runAll(calls) : calls.map((c) => inj.call(c.name, ...c.args));
  return threadInjectedOf(scratch.read(TAIL, AT.end), results[results.length - 1]!);
}

/** Threads whose calls run at the same time (readThreadsInjected), at most. */
const THREADS_AT_ONCE = 128;
/** Each one's room: its table (threadCalls) and then its results (AT, up to `subreaper`). */
const THREAD_TABLE = 4 * ENTRY_BYTES;
const THREAD_ROOM = THREAD_TABLE + AT.subreaper;
/** The batch area's room (extraBytes) readThreadsInjected uses for `n` threads: rooms, then pollfds. */
export const threadsRoom = (n: number): number => Math.min(n, THREADS_AT_ONCE) * (THREAD_ROOM + PARK_BYTES);

/**
 * readThreadInjected for many threads (`injs`) of one process, each thread's batch run at the same
 * time as the others' (a thread's calls took a stop of their own, one after another: about 1 ms a
 * thread, all of it while the process is frozen). `area` holds threadsRoom of room; without it, or
 * without a runner, one after another as before.
 */
export function readThreadsInjected(injs: readonly Injector[], scratch: Scratch, area: BatchArea | undefined): ThreadInjectedState[] {
  const place = area?.place;
  if (area === undefined || place?.code === undefined || injs.length < 2 || area.extraBytes < threadsRoom(injs.length)) {
    return injs.map((inj) => readThreadInjected(inj, scratch, place));
  }
  const out: ThreadInjectedState[] = [];
  for (let i = 0; i < injs.length; i += THREADS_AT_ONCE) {
    let group = injs.slice(i, i + THREADS_AT_ONCE);
    // Parked, each thread waits on a descriptor of its own; a thread without one runs after the others.
    const parks = area.moreParks(place.park ? group.length : 0, area.extra + BigInt(group.length * THREAD_ROOM));
    const alone = place.park ? group.slice(parks.length) : [];
    group = group.slice(0, group.length - alone.length);
    // Every room (table and results) in one read, for the tables' results too.
    let back: Buffer | undefined;
    const readRooms = (): Buffer => (back ??= processVmReadv(injs[0]!.pid, area.extra, group.length * THREAD_ROOM));
    const results = runTogether(group.map((inj, k) => {
      const room = area.extra + BigInt(k * THREAD_ROOM);
      const park = parks[k];
      return { batch: new SyscallBatch(() => inj, { code: place.code, table: room, tableSize: THREAD_TABLE, ...(park ? { park } : {}) }), calls: threadCalls(room + BigInt(THREAD_TABLE)) };
    }), () => ({ at: area.extra, bytes: readRooms() }));
    const rooms = readRooms();
    group.forEach((_, k) => out.push(threadInjectedOf(rooms.subarray(k * THREAD_ROOM + THREAD_TABLE), results[k]!.at(-1)!)));
    area.closeParks(parks); // not after a failure: the undo list closes them (its calls would hide the failure)
    for (const inj of alone) out.push(readThreadInjected(inj, scratch, place));
  }
  return out;
}

/** One field of a struct read back from the task, `word` bytes wide (host byte order). */
function wordAt(b: Buffer, off: number, word: 4 | 8): bigint {
  return word === 8 ? readU64(b, off) : BigInt(readU32(b, off));
}

/**
 * The robust-futex list head of the thread `inj` runs in, through the task's own ABI (an ia32
 * thread's compat head is not the one get_robust_list(TID) from cryo reports).
 */
export function readRobustListInside(inj: Injector, scratch: Scratch, arch: Arch): { head: bigint; len: number } {
  const w = arch.sigaction.word;
  inj.callTask('get_robust_list', 0, scratch.addr + BigInt(TAIL), scratch.addr + BigInt(TAIL + 8));
  const b = scratch.read(TAIL, 16);
  return { head: wordAt(b, 0, w), len: Number(wordAt(b, 8, w)) };
}

/**
 * `batch`: where a batch runner is mapped in the task (the signal actions are then read in one
 * stop instead of one stop each), when the task's ABI is the machine's.
 */
export function readInjectedState(inj: Injector, scratch: Scratch, timers: readonly PosixTimer[], arch: Arch, batch?: BatchPlace): InjectedState {
  return startInjectedState(inj, scratch, timers, arch, batch)();
}

/**
 * readInjectedState in two halves: its batch starts in the task (a tree's processes run theirs at
 * the same time), the function returned waits for it and reads the rest.
 */
export function startInjectedState(inj: Injector, scratch: Scratch, timers: readonly PosixTimer[], arch: Arch, batch?: BatchPlace): () => InjectedState {
  const at = (off: number) => scratch.addr + BigInt(off);
  const tail = TAIL;
  // Signal actions, through the task's own ABI (its struct sigaction): one slot each, read back in one go.
  const L = arch.sigaction;
  const reads: Call[] = SIGACTION_SIGNALS.map((sig, i) => ({ name: 'rt_sigaction', args: [sig, 0, at(i * SIGACTION_SLOT), 8], task: true }));
  // Then the process's and this thread's own (itimerval {interval{sec,usec}, value{sec,usec}} each).
  const calls: Call[] = [
    ...threadCalls(scratch.addr + BigInt(TAIL)),
    ...[0, 1, 2].map((which) => ({ name: 'getitimer', args: [which, at(tail + AT.itimers + which * 32)] })),
    { name: 'prctl', args: [PR.GET_CHILD_SUBREAPER, at(tail + AT.subreaper)] },
    { name: 'prctl', args: [PR.GET_DUMPABLE] },
    { name: 'prctl', args: [PR.GET_THP_DISABLE] },
    { name: 'brk', args: [0] },
  ];
  // Last, as a call whose failure does not end a batch: an older kernel fails it (EINVAL).
  const mbCall: Call = { name: 'membarrier', args: [MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0], mayFail: true };
  let wait: () => bigint[];
  const all = [...reads, ...calls, mbCall];
  const b = batch !== undefined && batchesTaskCalls(arch) ? new SyscallBatch(() => inj, batch) : undefined;
  if (b !== undefined && b.batched && all.length <= b.room && batch?.park !== undefined && inj.endsCalls) {
    // All in one stop instead of two stops each, waited for below. Only a batch that ends in the
    // thread's own state (parked) is left running: one ending in a breakpoint would kill the task
    // if cryo died before it is waited for.
    b.queue(all);
    wait = b.start();
  } else if (b !== undefined && b.batched) {
    const got = b.runAll(all);
    wait = () => got;
  } else if (b !== undefined) {
    const got = [...b.runAll([...reads, ...calls]), inj.raw(mbCall.name, ...mbCall.args)];
    wait = () => got;
  } else {
    for (const r of reads) inj.callTask(r.name, ...r.args);
    const got = [...calls.map((c) => inj.call(c.name, ...c.args)), inj.raw(mbCall.name, ...mbCall.args)];
    wait = () => [...reads.map(() => 0n), ...got];
  }
  return () => readBack(wait().slice(reads.length));
  function readBack(results: bigint[]): InjectedState {
    const acts = scratch.read(0, SIGACTION_SIGNALS.length * SIGACTION_SLOT);
    const sigactions = SIGACTION_SIGNALS.map((_, i) => {
      const o = i * SIGACTION_SLOT;
      return {
        sigaction: wordAt(acts, o + L.handler, L.word), flags: wordAt(acts, o + L.flags, L.word),
        restorer: wordAt(acts, o + L.restorer, L.word), mask: readU64(acts, o + L.mask), compat_sigaction: L.word === 4,
      };
    });
    const t = scratch.read(tail, AT.end);
    const { sas, clearTidAddr, pdeathSig, secbits } = threadInjectedOf(t, results[3]!);
    const itimer = (which: number): MessageValue => {
      const o = AT.itimers + which * 32;
      return { isec: readU64(t, o), iusec: readU64(t, o + 8), vsec: readU64(t, o + 16), vusec: readU64(t, o + 24) };
    };
    const itimers = { real: itimer(0), virt: itimer(1), prof: itimer(2) };
    const childSubreaper = readI32(t, AT.subreaper) !== 0;
    const [dumpable, thp, brk] = results.slice(8).map((r) => BigInt.asUintN(64, r)) as [bigint, bigint, bigint];

    const posixTimers = timers.map((pt) => {
      inj.call('timer_gettime', pt.id, at(tail));
      const b = scratch.read(tail, 32); // itimerspec {interval{sec,nsec}, value{sec,nsec}}
      const overrun = Number(inj.call('timer_getoverrun', pt.id));
      const notify = (pt.threadId ? SIGEV.threadId : 0) | SIGEV[pt.notify];
      const e: MessageValue = {
        it_id: pt.id, clock_id: pt.clockId, si_signo: pt.signal, it_sigev_notify: notify, sival_ptr: pt.sigval, overrun,
        isec: readU64(b, 0), insec: readU64(b, 8), vsec: readU64(b, 16), vnsec: readU64(b, 24),
      };
      if (pt.threadId) e.notify_thread_id = pt.target;
      return e;
    });
    const mb = results.at(-1)!;
    return {
      sigactions, sas, itimers, posixTimers, clearTidAddr, pdeathSig, dumpable: Number(dumpable), thpDisabled: thp !== 0n, secbits,
      childSubreaper, membarrierMask: mb > 0n ? Number(mb) : 0, brk,
    };
  }
}
