// The one error type restore throws: a code callers can switch on, and a
// one-line message that says what is wrong and what to do.

export type RestoreErrorCode =
  | 'IMAGE_CORRUPT' // an image does not parse
  | 'IMAGE_MISSING' // a required image file is absent
  | 'IMAGE_INCONSISTENT' // images parse but contradict each other
  | 'UNSUPPORTED' // the images hold state cryo cannot restore yet
  | 'ARCH_MISMATCH' // another architecture or bitness
  | 'CPU_FEATURE' // the saved CPU state needs a feature this CPU lacks
  | 'FILE_MISSING' // a file a mapping or descriptor needs is gone
  | 'FILE_CHANGED' // ... or has another size / mtime / type
  | 'PID_TAKEN' // the dumped PID is in use
  | 'IPC_TAKEN' // a System V IPC id or key of the dump is in use
  | 'UNSAFE' // the images name a path or mode restore will not use (relative, through a symbolic link, set-id)
  | 'ABORTED' // the caller's AbortSignal fired
  | 'FAILED'; // a step after the point of no return failed (the task was killed)

/** Control characters (a newline in a file name the images give) as escapes: a refusal is one line. */
function escapeControls(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

export class RestoreError extends Error {
  override name = 'RestoreError';
  constructor(readonly code: RestoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(escapeControls(message), options);
  }
}

/** The message of anything thrown, on one line. */
export function oneLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0] ?? m;
}
