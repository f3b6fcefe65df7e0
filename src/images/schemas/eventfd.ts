// eventfd.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';
import { fown_entry } from './fown.js';

export const eventfd_file_entry = message('eventfd_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32'),
  req(3, 'fown', () => fown_entry),
  req(4, 'counter', 'uint64'),
]);
