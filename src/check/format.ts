// How `cryo check` prints its results: pure functions, unit-tested.
import type { CheckResult } from './types.js';

/** `name: ok`, `name: ok (detail)` or `name: missing (error: meaning)`. */
export function formatResult(r: CheckResult): string {
  if (r.ok) return r.detail ? `${r.name}: ok (${r.detail})` : `${r.name}: ok`;
  const why = [r.error, r.meaning].filter((s) => s !== undefined && s !== '').join(': ');
  return why ? `${r.name}: missing (${why})` : `${r.name}: missing`;
}

/** The required features that are missing; empty when dump and restore can work here. */
export function missingRequired(results: readonly CheckResult[]): CheckResult[] {
  return results.filter((r) => r.required && !r.ok);
}

/** The closing line: whether cryo can dump and restore here, and what is missing. */
export function summaryLine(results: readonly CheckResult[]): string {
  const required = missingRequired(results);
  const optional = results.filter((r) => !r.required && !r.ok).length;
  if (required.length > 0) {
    return `Not ready: cryo cannot dump and restore here without ${required.map((r) => r.name).join(', ')}.`;
  }
  const note = optional === 0 ? '' : ` (${optional} optional feature${optional === 1 ? '' : 's'} missing)`;
  return `Looks good: everything cryo needs to dump and restore is here${note}.`;
}

/** The whole report, one line per result and the summary. */
export function formatReport(results: readonly CheckResult[]): string {
  return [...results.map(formatResult), summaryLine(results)].join('\n') + '\n';
}

/** `cryo check`'s exit status: 0 when every required feature is there, 1 otherwise. */
export function exitStatus(results: readonly CheckResult[]): number {
  return missingRequired(results).length === 0 ? 0 : 1;
}
