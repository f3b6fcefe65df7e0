// timens.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';

export const timespec = message('timespec', [
  req(1, 'tv_sec', 'uint64'),
  req(2, 'tv_nsec', 'uint64'),
]);

export const timens_entry = message('timens_entry', [
  req(1, 'monotonic', () => timespec),
  req(2, 'boottime', () => timespec),
]);
