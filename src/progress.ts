/**
 * Byte progress of the long part of a dump or restore (moving pages). The library reports here and
 * stays silent unless a listener is installed: the CLI installs one when stderr is a terminal.
 */
export type ProgressListener = (what: 'dump' | 'restore', doneBytes: number, totalBytes: number) => void;

let listener: ProgressListener | undefined;

/** Installs (or with undefined removes) the process-wide listener; returns the previous one. */
export function setProgressListener(l: ProgressListener | undefined): ProgressListener | undefined {
  const prev = listener;
  listener = l;
  return prev;
}

export function reportProgress(what: 'dump' | 'restore', doneBytes: number, totalBytes: number): void {
  listener?.(what, doneBytes, totalBytes);
}
