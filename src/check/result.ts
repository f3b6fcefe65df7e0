// Small constructors for CheckResult, so each probe reads as a list of facts.
import type { CheckResult } from './types.js';

export function ok(name: string, required: boolean, detail?: string): CheckResult {
  return detail === undefined ? { name, ok: true, required } : { name, ok: true, required, detail };
}

export function missing(name: string, required: boolean, meaning: string, error?: unknown): CheckResult {
  const text = error === undefined ? undefined : errorText(error);
  return text === undefined ? { name, ok: false, required, meaning } : { name, ok: false, required, error: text, meaning };
}

/** The one-line form of an error (SysError's message is already `ENAME from call(...)`). */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Runs `attempt`; ok when it returns (its string becomes the detail), missing with the error and
 * `meaning` when it throws.
 */
export function probe(name: string, required: boolean, meaning: string, attempt: () => string | void): CheckResult {
  try {
    const detail = attempt();
    return ok(name, required, detail === undefined ? undefined : detail);
  } catch (e) {
    return missing(name, required, meaning, e);
  }
}
