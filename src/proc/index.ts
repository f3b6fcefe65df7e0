// Typed parsers and readers for /proc/PID/*. Parsers are pure (text/bytes in, data out);
// readers open the file and throw ProcReadError with one clear line when it cannot be read.
export * from './read.js';
export * from './vm-flags.js';
export * from './maps.js';
export * from './address-order.js';
export * from './pagemap.js';
export * from './status.js';
export * from './stat.js';
export * from './auxv.js';
export * from './cpu-caps.js';
export * from './fd.js';
export * from './fdinfo.js';
export * from './locks.js';
export * from './mountinfo.js';
export * from './timers.js';
export * from './task.js';
export * from './io-uring-fdinfo.js';
export * from './scan.js';
