// cryo's library entry point. Each area exports its public API here.

export * from './images/index.js';
export * as schemas from './images/schemas/index.js';
export { check, type CheckResult } from './check/index.js';
export { restore, RestoreError, type RestoreErrorCode, type RestoreOptions, type RestoreResult, type RestoreEvent, type ExitStatus } from './restore/index.js';
export { dump, DumpError, readCryoFileStats, CRYO_FILES_IMAGE, CRYO_FILES_MAGIC, type DumpOptions, type DumpErrorCode, type DumpEvent, type DumpResult, type CryoFileStat } from './dump/index.js';
