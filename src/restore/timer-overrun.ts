// A POSIX timer's overrun count: what timer_getoverrun says, the expirations missed before the
// last signal of the timer was taken. No system call sets it and timer_settime clears it; the
// kernel counts it when a periodic timer's queued signal is taken late, moving the timer past
// every expiry it missed. So the timer is armed at an absolute time N+1 intervals before its next
// expiry (in the past: it fires at once, its signal blocked) and the signal is taken at once with
// sigtimedwait: the kernel moves the timer N+1 intervals on, to the expiry it had, and counts N.
import type { MessageValue } from '../images/value.js';
import { ptrace } from '../sys/index.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { readU64, writeU64 } from '../sys/native-endian.js';
import { big, num } from '../shared/constants.js';

const NS = 1_000_000_000n;
const TIMER_ABSTIME = 1;
const SIGEV_SIGNAL = 0;
const SIGEV_THREAD_ID = 4;
/** Clocks whose timers are hrtimers (REALTIME, MONOTONIC, BOOTTIME, TAI): they count overruns this way. */
const HRTIMER_CLOCKS = new Set([0, 1, 7, 11]);
/** The least time left the timer is given: the signal must be taken before that expiry. */
const MIN_LEFT = 5_000_000n;
const TRIES = 3;
const AT = 1024;

/** struct itimerspec { interval {sec, nsec}, value {sec, nsec} } of two times in ns. */
function itimerspec(interval: bigint, value: bigint): Buffer {
  const spec = Buffer.alloc(32);
  [interval / NS, interval % NS, value / NS, value % NS].forEach((v, k) => writeU64(spec, v, k * 8));
  return spec;
}

/** Gives timer `t` (created and armed as dumped) its overrun count, or warns why not. */
export function restoreOverrun(ctx: TaskCtx, t: MessageValue): void {
  const want = num(t.overrun);
  const interval = big(t.isec) * NS + big(t.insec);
  const left = big(t.vsec) * NS + big(t.vnsec);
  if (want <= 0 || interval === 0n || left === 0n) return; // only an armed periodic timer has one
  const id = num(t.it_id);
  const signo = num(t.si_signo);
  const notify = num(t.it_sigev_notify);
  const clock = num(t.clock_id);
  const what = `the overrun count ${want} of POSIX timer ${id} of process ${ctx.pid}`;
  if (!HRTIMER_CLOCKS.has(clock)) return ctx.warn(`${what} is not restored: its clock ${clock} is not one cryo can replay (REALTIME, MONOTONIC, BOOTTIME, TAI)`);
  if (!(notify === SIGEV_SIGNAL || (notify === SIGEV_THREAD_ID && num(t.notify_thread_id) === ctx.pid)) || signo <= 0) {
    return ctx.warn(`${what} is not restored: its signal goes to another thread or to none`);
  }
  const bit = 1n << BigInt(signo - 1);
  const mask = ptrace.getSigmask(ctx.tid);
  ptrace.setSigmask(ctx.tid, mask | bit);
  try {
    for (let i = 0; i < TRIES; i++) {
      ctx.call('clock_gettime', clock, ctx.put(Buffer.alloc(16), AT));
      const ts = ctx.get(AT, 16);
      const now = readU64(ts, 0) * NS + readU64(ts, 8);
      const next = now + (left > MIN_LEFT ? left : MIN_LEFT);
      const start = next - BigInt(want + 1) * interval;
      if (start <= 0n) return ctx.warn(`${what} is not restored: ${want + 1} intervals reach back before the clock's start`);
      ctx.call('timer_settime', id, TIMER_ABSTIME, ctx.put(itimerspec(interval, start), AT), 0);
      const set = Buffer.alloc(8);
      writeU64(set, bit, 0);
      const wait = Buffer.alloc(16);
      writeU64(wait, 1n, 0);
      const got = ctx.raw('rt_sigtimedwait', ctx.put(set, AT), ctx.put(Buffer.alloc(128), AT + 64), ctx.put(wait, AT + 32), 8);
      if (got !== BigInt(signo)) continue;
      if (Number(ctx.call('timer_getoverrun', id)) === want) return;
    }
    // Late every time (a loaded machine): the timer is as dumped, its count not.
    ctx.call('timer_settime', id, 0, ctx.put(itimerspec(interval, left), AT), 0);
    ctx.warn(`${what} is not restored: the timer's signal was not taken in time in ${TRIES} tries`);
  } finally {
    ptrace.setSigmask(ctx.tid, mask);
  }
}
