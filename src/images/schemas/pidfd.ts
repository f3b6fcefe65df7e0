// pidfd.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';
import { fown_entry } from './fown.js';

export const pidfd_entry = message('pidfd_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'ino', 'uint32'),
  req(3, 'flags', 'uint32'),
  req(4, 'nspid', 'int32'),
  req(5, 'fown', () => fown_entry),
]);
