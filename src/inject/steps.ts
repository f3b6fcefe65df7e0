/**
 * Code that injects calls one after another, written as a generator that yields each call (and
 * gets its result back), so that the same code runs alone (runSteps) or in several tasks in
 * lockstep (runStepsTogether: each round, the next call of every task at once, Injector.rawEach):
 * a tree's processes each wait to be scheduled, not one after another.
 */
import { Injector } from './injector.js';
import { syscallFailed } from './errors.js';

/** A call to run in a task, beside other tasks' (Injector.rawEach). */
export interface InjectedCall { inj: Injector; name: string; args: readonly (bigint | number)[] }

/** A call that may run beside other tasks' (a -errno result is thrown back, as Injector.call does), or one that must run alone. */
export type Step = InjectedCall | { alone: () => bigint };
export type Steps<T> = Generator<Step, T, bigint>;

type Outcome = { ok: true; v: bigint } | { ok: false; e: unknown };

const checked = (c: InjectedCall, r: bigint): Outcome => (r < 0n && r >= -4095n ? { ok: false, e: syscallFailed(c.inj.pid, c.name, c.args, r) } : { ok: true, v: r });

function runAlone(s: Step): Outcome {
  try {
    if ('alone' in s) return { ok: true, v: s.alone() };
    return checked(s, s.inj.raw(s.name, ...s.args));
  } catch (e) {
    return { ok: false, e };
  }
}

/** Runs `steps` in its task alone; returns what it returns. */
export function runSteps<T>(steps: Steps<T>): T {
  let r = steps.next();
  while (!r.done) {
    const o = runAlone(r.value);
    r = o.ok ? steps.next(o.v) : steps.throw(o.e);
  }
  return r.value;
}

/**
 * Runs every one of `all` (each in a task of its own) to its end in lockstep; returns what each
 * returns, or, once every one has ended (so that each has recorded what it changed), throws the
 * failure that came first: a failed call's by the order the calls ran (a fault point fails every
 * later one, and the error names the first), else the order the code after a call ran in.
 */
export function runStepsTogether<T>(all: readonly Steps<T>[]): T[] {
  type Timed = Outcome & { at: number };
  type State = { r: IteratorResult<Step, T> } | { e: unknown; at: number };
  // Counts what ran, in the order it ran: a failure's place among the others.
  let clock = 0;
  const advance = (g: Steps<T>, o?: Timed): State => {
    const at = o !== undefined && !o.ok ? o.at : clock++;
    try {
      return { r: o === undefined ? g.next() : o.ok ? g.next(o.v) : g.throw(o.e) };
    } catch (e) {
      return { e: e ?? new Error('undefined thrown'), at };
    }
  };
  const states = all.map((g) => advance(g));
  const waiting = (): number[] => states.flatMap((s, i) => ('r' in s && !s.r.done ? [i] : []));
  for (let now = waiting(); now.length > 0; now = waiting()) {
    const step = (i: number) => (states[i] as { r: IteratorYieldResult<Step> }).r.value;
    const outcomes = new Map<number, Timed>();
    // The ones that run alone first, then the others together (their calls start in this order).
    for (const i of now) if ('alone' in step(i)) outcomes.set(i, { ...runAlone(step(i)), at: clock++ });
    const calls = now.filter((i) => !outcomes.has(i));
    Injector.rawEach(calls.map((i) => step(i) as InjectedCall)).forEach((g, k) => {
      const c = step(calls[k]!) as InjectedCall;
      outcomes.set(calls[k]!, { ...(g.ok ? checked(c, g.v) : g), at: clock++ });
    });
    for (const i of now) states[i] = advance(all[i]!, outcomes.get(i));
  }
  let failed: { e: unknown; at: number } | undefined;
  for (const s of states) if ('e' in s && (failed === undefined || s.at < failed.at)) failed = s;
  if (failed !== undefined) throw failed.e;
  return states.map((s) => (s as { r: IteratorReturnResult<T> }).r.value);
}
