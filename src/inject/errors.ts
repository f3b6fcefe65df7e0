import { errnoName } from '../sys/index.js';

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

/** The error of an injected call that returned -errno `r`: `EFAULT from name(args) injected into task PID`. */
export function syscallFailed(pid: number, name: string, args: readonly (bigint | number)[], r: bigint): InjectError {
  const e = errnoName(Number(-r));
  return new InjectError('SYSCALL_FAILED', `${e} from ${name}(${args.map(fmt).join(', ')}) injected into task ${pid}`, e);
}

function fmt(a: bigint | number): string {
  const v = BigInt(a);
  return v > 65535n || v < -65535n ? `0x${BigInt.asUintN(64, v).toString(16)}` : String(v);
}
