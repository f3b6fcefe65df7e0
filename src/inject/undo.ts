/**
 * The undo list: every change cryo makes to a task it dumps is recorded here the moment it is
 * made, with the action that reverses it. `run` reverses them newest first and keeps going when
 * one fails, so a half-finished dump still puts back everything else (DESIGN rule 5).
 */
export interface UndoStep {
  readonly what: string;
  readonly undo: () => void;
}

export class UndoList {
  private readonly steps: UndoStep[] = [];

  /** Records a change and how to reverse it; returns a function that drops the step once it was undone by hand. */
  push(what: string, undo: () => void): () => void {
    const step = { what, undo };
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
      try {
        step.undo();
      } catch (e) {
        failures.push(`${step.what}: ${(e as Error).message}`);
      }
    }
    return failures;
  }
}
