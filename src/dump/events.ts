/** Progress of a dump, as typed events (the CLI prints them with -v). */
export type DumpEvent =
  | { type: 'stage'; stage: 'seize' | 'task' | 'memory' | 'files' | 'inject' | 'write' | 'undo' | 'kill' | 'detach' }
  | { type: 'image'; file: string }
  | { type: 'warning'; message: string };

export interface DumpResult {
  pid: number;
  dir: string;
  /** Image file names written, relative to dir. */
  images: string[];
  pagesWritten: number;
  /** True when the task was left running (leaveRunning), false when it was killed. */
  leftRunning: boolean;
  /** With a page server: the pages sent to it. */
  pagesSent?: number;
}
