// Reading the example counter's log: its lines, and the counts it printed.
import { existsSync, readFileSync } from 'node:fs';

export interface LogLine {
  text: string;
  /** The count of a `count N  checksum X` line, else undefined. */
  count?: number;
}

/** Parses the log's complete lines (a line still being written is left out). */
export function parseLog(text: string): LogLine[] {
  const lines = text.split('\n');
  lines.pop(); // the part after the last newline: empty, or not finished yet
  return lines.map((t) => {
    const m = /^count (\d+)\s/.exec(t);
    return m ? { text: t, count: Number(m[1]) } : { text: t };
  });
}

export function readLog(file: string): LogLine[] {
  return existsSync(file) ? parseLog(readFileSync(file, 'utf8')) : [];
}

/** The last count printed, or undefined when none yet. */
export function lastCount(lines: readonly LogLine[]): number | undefined {
  for (let i = lines.length - 1; i >= 0; i--) if (lines[i]!.count !== undefined) return lines[i]!.count;
  return undefined;
}

/** The first count printed, or undefined. */
export function firstCount(lines: readonly LogLine[]): number | undefined {
  return lines.find((l) => l.count !== undefined)?.count;
}
