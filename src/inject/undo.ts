/**
 * The undo list: every change cryo makes to a task it dumps is recorded here the moment it is
 * made, with the action that reverses it. `run` reverses them newest first and keeps going when
 * one fails, so a half-finished dump still puts back everything else (DESIGN rule 5).
 */
import { Injector } from './injector.js';
import { syscallFailed } from './errors.js';

export interface UndoStep {
  readonly what: string;
  readonly undo: () => void;
  /** The step is one injected call (pushCall): run beside its neighbours' in other tasks. */
  readonly call?: UndoCall;
}

/** An undo step that is one call injected into a task, after `before` (e.g. where it must run). */
export interface UndoCall {
  inj: Injector;
  name: string;
  args: readonly (bigint | number)[];
  before?: () => void;
}

export class UndoList {
  private readonly steps: UndoStep[] = [];

  /** Records a change and how to reverse it; returns a function that drops the step once it was undone by hand. */
  push(what: string, undo: () => void): () => void {
    return this.add({ what, undo });
  }

  /**
   * push, for a reversal that is one injected call: a run of such steps next to each other, each in
   * a task of its own (a tree's areas, unmapped), runs at once (Injector.rawEach: each task waits
   * to be scheduled, not one after another).
   */
  pushCall(what: string, call: UndoCall): () => void {
    return this.add({ what, call, undo: () => { call.before?.(); call.inj.call(call.name, ...call.args); } });
  }

  private add(step: UndoStep): () => void {
    this.steps.push(step);
    return () => {
      const i = this.steps.lastIndexOf(step);
      if (i >= 0) this.steps.splice(i, 1);
    };
  }

  get size(): number {
    return this.steps.length;
  }

  /** What is still to be undone, newest first (for messages). */
  pending(): string[] {
    return this.steps.map((s) => s.what).reverse();
  }

  /** Reverses every step, newest first; returns the failures as "what: message" lines. */
  run(): string[] {
    const failures: string[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      if (step.call === undefined) {
        try {
          step.undo();
        } catch (e) {
          failures.push(`${step.what}: ${(e as Error).message}`);
        }
        continue;
      }
      // The newest steps that are calls, one per task.
      const group = [step];
      const pids = new Set([step.call.inj.pid]);
      for (let next = this.steps.at(-1); next?.call !== undefined && !pids.has(next.call.inj.pid); next = this.steps.at(-1)) {
        pids.add(next.call.inj.pid);
        group.push(this.steps.pop()!);
      }
      const ready = group.filter((s) => {
        try {
          s.call!.before?.();
          return true;
        } catch (e) {
          failures.push(`${s.what}: ${(e as Error).message}`);
          return false;
        }
      });
      Injector.rawEach(ready.map((s) => s.call!)).forEach((g, i) => {
        const { what, call } = ready[i]!;
        const r = g.ok ? g.v : 0n;
        if (!g.ok) failures.push(`${what}: ${(g.e as Error)?.message ?? String(g.e)}`);
        else if (r < 0n && r >= -4095n) failures.push(`${what}: ${syscallFailed(call!.inj.pid, call!.name, call!.args, r).message}`);
      });
    }
    return failures;
  }
}
