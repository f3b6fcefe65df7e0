// The part of an Arch that is the same on every architecture with one user ABI (aarch64, ppc64,
// s390x): every task and every image is the machine's own, so there is nothing to pick per task
// and no thread state to write beyond the regsets. Spread into the Arch; `self` returns that Arch.

import type { Arch, RegsFix, RestartUse, StoppedCall, SyscallAbi, ThreadInfo } from './types.js';
import { SIGACTION_LP64 } from './asm-generic.js';
import { RESTART_RULES } from './restart-rules.js';

export type SingleAbiPart = Pick<Arch,
  'syscall' | 'taskSyscall' | 'sigaction' | 'robustList' | 'forTask' | 'forThreadInfo' | 'cannotRun'
  | 'writeThreadExtras' | 'restartRules' | 'fixSyscallRestart' | 'stoppedCall'>;

export function singleAbi(
  self: () => Arch, syscall: SyscallAbi, fixSyscallRestart: (ti: ThreadInfo, use?: RestartUse) => RegsFix,
  stoppedCall: (ti: ThreadInfo) => StoppedCall | undefined,
): SingleAbiPart {
  return {
    syscall,
    taskSyscall: syscall,
    sigaction: SIGACTION_LP64,
    robustList: 'outside',
    forTask: self,
    forThreadInfo: self,
    cannotRun: () => undefined,
    writeThreadExtras: () => undefined,
    restartRules: RESTART_RULES,
    fixSyscallRestart,
    stoppedCall,
  };
}
