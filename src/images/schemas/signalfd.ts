// signalfd.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';
import { fown_entry } from './fown.js';

export const signalfd_entry = message('signalfd_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32', { hex: true }),
  req(3, 'fown', () => fown_entry),
  req(4, 'sigmask', 'uint64', { hex: true }),
]);
