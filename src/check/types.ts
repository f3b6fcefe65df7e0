/** One line of `cryo check`: a kernel, CPU or permission fact and what it means for cryo. */
export interface CheckResult {
  /** Short name, e.g. 'ptrace', 'clone3 set_tid', 'CAP_SYS_RESOURCE'. */
  readonly name: string;
  readonly ok: boolean;
  /** Dump or restore cannot work without it: a missing required feature makes `cryo check` exit 1. */
  readonly required: boolean;
  /** What was found, shown after 'ok', e.g. 'XCR0 0x2e7: x87 FPU, SSE, AVX'. */
  readonly detail?: string;
  /** When missing: the kernel's answer, e.g. 'ENOSYS from kcmp(1, 1, 0)'. */
  readonly error?: string;
  /** When missing: what that means for cryo. */
  readonly meaning?: string;
}

/** One probe: looks at the machine and reports one or more lines. Never throws for a missing feature. */
export type Probe = () => CheckResult | CheckResult[] | Promise<CheckResult | CheckResult[]>;
