// What every cryo subcommand is, and the small I/O helpers they share (nothing heavy: the CLI
// loads this for every command, even `cryo --help`).

import { readFileSync, writeFileSync } from 'node:fs';

export interface Command {
  readonly name: string;
  /** One line for `cryo --help`. */
  readonly summary: string;
  /** The argument synopsis, e.g. '-i FILE [--pretty] [-o OUT]'. */
  readonly usage: string;
  /** Runs with the arguments after the command name; resolves to the exit status. */
  run(args: string[]): number | Promise<number>;
}

/** A mistake on the command line: printed as one line with the usage. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The process `-t` names: a positive number. */
export function treePid(value: string | undefined): number {
  if (value === undefined) throw new UsageError('-t PID is required');
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new UsageError(`-t ${value} is not a process ID: give the PID, a positive number`);
  return Number(value);
}

/** The whole input: a file, or stdin when none is named (like crit). */
export function readInput(file: string | undefined): { data: Buffer; name: string } {
  if (file === undefined || file === '-') return { data: readFileSync(0), name: '<stdin>' };
  return { data: readFileSync(file), name: file };
}

export function writeText(file: string | undefined, text: string): void {
  if (file === undefined || file === '-') process.stdout.write(text);
  else writeFileSync(file, text);
}
