/**
 * src/inject: running system calls inside a stopped task, arch-neutral, without writing to its
 * memory (an existing syscall instruction is reused). Every change is recorded in an UndoList.
 */
export { InjectError, syscallFailed, type InjectErrorCode } from './errors.js';
export { UndoList, type UndoStep } from './undo.js';
export { findSyscallSite } from './syscall-site.js';
export { Injector, ignoresSigtrap, setSideRegsets, getAbiRegs, setAbiRegs, numberIn, type InjectorOptions } from './injector.js';
export { ENTRY_BYTES, SyscallBatch, batchesTaskCalls, runTogether, type BatchCall, type BatchPlace } from './batch.js';
export { mapBatchArea, batchAreaBytes, batchAreaSteps, batchRunners, type BatchArea } from './batch-area.js';
export { runSteps, runStepsTogether, type InjectedCall, type Step, type Steps } from './steps.js';
export { mapScratch, scratchAt, startScratch, findHole, type Area, type Scratch } from './scratch.js';
export { injectMmap, type MmapArgs } from './mmap.js';
export { injectClone } from './clone.js';
export { mapCallEnding, startCallEnding, type CallEnding, type EndingMmap, type EndingThread } from './call-ending.js';
