/** Errors of syscall injection: one line that says which call failed in which task. */
export type InjectErrorCode = 'NO_SYSCALL_SITE' | 'SYSCALL_FAILED' | 'UNEXPECTED_STOP' | 'NO_SCRATCH';

export class InjectError extends Error {
  /** For SYSCALL_FAILED: the errno name (e.g. 'EFAULT'). */
  readonly errnoName?: string;
  constructor(readonly code: InjectErrorCode, message: string, errnoName?: string) {
    super(message);
    this.name = 'InjectError';
    if (errnoName !== undefined) this.errnoName = errnoName;
  }
}
