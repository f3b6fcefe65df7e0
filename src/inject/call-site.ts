// Where a thread's calls run while a dump's call ending is in use (call-ending.ts; Injector.endCallsAt).

/** Where a thread's calls run on the ending: the code, and SP on that thread's frame. */
export interface CallSite {
  site: bigint;
  sp: bigint;
  /**
   * Between calls the thread holds its own registers and mask, not the ending's: its frame runs its
   * interrupted call again from the start (a sleep longer than asked: RestartRule.onRunOn), where
   * its own registers restart the call from the kernel's restart block with the time left
   * (ERESTART_RESTARTBLOCK: nanosleep, poll, a futex wait with a timeout), which rt_sigreturn drops.
   */
  ownBetweenCalls?: boolean;
}
