/** The one error type dump() throws: a code to branch on and a one-line message for the user. */
export type DumpErrorCode =
  | 'NO_PROCESS' // the PID does not exist (or vanished)
  | 'PERMISSION' // ptrace or /proc access denied
  | 'BUSY' // already traced by someone else
  | 'UNSUPPORTED' // the task uses something cryo cannot dump yet
  | 'ABORTED' // the AbortSignal fired (SIGINT/SIGTERM to the CLI)
  | 'FAILED'; // anything else, with the cause in the message

export class DumpError extends Error {
  constructor(readonly code: DumpErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DumpError';
  }
}
