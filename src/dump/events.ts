import { DumpError } from '../shared/dump-error.js';

/**
 * Progress of a dump, as typed events (the CLI prints them with -v). 'snapshot' comes after 'detach':
 * the pages of the processes that got a snapshot (snapshot.ts) are written from it.
 */
export type DumpEvent =
  | { type: 'stage'; stage: 'seize' | 'task' | 'memory' | 'files' | 'inject' | 'write' | 'undo' | 'kill' | 'detach' | 'snapshot' }
  | { type: 'image'; file: string }
  | { type: 'warning'; message: string }
  /** What a -v run shows about a choice the dump made (how a process's pages were written). */
  | { type: 'note'; message: string };

export interface DumpResult {
  pid: number;
  dir: string;
  /** Image file names written, relative to dir. */
  images: string[];
  pagesWritten: number;
  /** True when the task was left running (leaveRunning), false when it was killed. */
  leftRunning: boolean;
  /** With keepMemory: frees the ended task's memory (kept until then). */
  releaseMemory?: () => void;
  /** With a page server: the pages sent to it. */
  pagesSent?: number;
}

/**
 * The caller's event callback, made harmless: the first time it throws, the dump fails with that
 * (the undo still runs); during the undo and after, its errors are kept, never thrown.
 */
export class Events {
  failure: unknown;
  private quiet = false;
  constructor(private readonly cb: ((e: DumpEvent) => void) | undefined) {}
  readonly emit = (e: DumpEvent): void => {
    if (!this.cb || this.failure !== undefined) return;
    try {
      this.cb(e);
    } catch (err) {
      this.failure = err;
      if (!this.quiet) throw new DumpError('FAILED', `the dump's event callback failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  };
  /** From here on callback errors are only kept. */
  silence(): void {
    this.quiet = true;
  }
  /** The callback's failure as the dump's error, if it failed. */
  error(pid: number, what: string): DumpError | undefined {
    const f = this.failure;
    return f === undefined ? undefined : new DumpError('FAILED', `${what} of task ${pid}: the event callback failed: ${(f as Error)?.message ?? String(f)}`, { cause: f });
  }
}
