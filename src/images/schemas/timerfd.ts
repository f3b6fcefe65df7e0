// timerfd.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';
import { fown_entry } from './fown.js';

export const timerfd_entry = message('timerfd_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32', { hex: true }),
  req(3, 'fown', () => fown_entry),
  req(4, 'clockid', 'uint32'),
  req(5, 'ticks', 'uint64'),
  req(6, 'settime_flags', 'uint32', { hex: true }),
  req(7, 'vsec', 'uint64'),
  req(8, 'vnsec', 'uint64'),
  req(9, 'isec', 'uint64'),
  req(10, 'insec', 'uint64'),
]);
