// Where a thread's calls run while a dump's call ending is in use (call-ending.ts; Injector.endCallsAt).

/** Where a thread's calls run on the ending: the code, and SP on that thread's frame. */
export interface CallSite {
  site: bigint;
  sp: bigint;
  /**
   * Between calls the thread holds its own registers and mask, not the ending's: its frame ends its
   * interrupted call with EINTR, where its own registers restart the call from the kernel's
   * restart block (ERESTART_RESTARTBLOCK: nanosleep, poll, a futex wait with a timeout), which
   * rt_sigreturn drops. So only a kill inside a call or batch gives it the EINTR.
   */
  ownBetweenCalls?: boolean;
}
