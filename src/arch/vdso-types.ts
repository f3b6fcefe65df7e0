// How an architecture's vDSO moves with a restored task. Re-exported by ./types.js.

export interface VdsoNames {
  /** /proc/PID/maps names of the areas that move with the task (vdso and its data pages). */
  readonly areas: readonly string[];
  readonly vdso: string;
  /** Absent: the stub's own vDSO is moved into place. Present: it is unmapped and this call maps the task's. */
  readonly map?: VdsoMapCall;
  /** How an old vDSO's entry points jump into this kernel's, when the two differ (absent: restore refuses). */
  readonly trampoline?: VdsoTrampoline;
}

/**
 * The code restore writes over each entry point of the dumped vDSO (put back as private memory)
 * so that a call there goes on to the same-named function of this kernel's vDSO.
 */
export interface VdsoTrampoline {
  /** Bytes the patch at one entry point takes. */
  readonly entrySize: number;
  /** Code every entry's patch goes through, written once into the old vDSO (absent: none needed). */
  readonly shared?: Buffer;
  /** The patch for the entry at address `at` that jumps to `target`; `shared`: where the shared code lies. */
  entry(at: bigint, target: bigint, shared: bigint): Buffer;
  /** Entry points only the kernel enters (always in the vDSO it maps now): neither patched nor required. */
  readonly kernelOnly: readonly string[];
}

/** How a task ABI's vDSO is put in place when the restore stub's own cannot be moved there. */
export interface VdsoMapCall {
  /** The (host ABI) syscall that maps it, and its arguments for the start of the dumped areas. */
  readonly name: string;
  args(addr: bigint): bigint[];
}
