// fown.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';

export const fown_entry = message('fown_entry', [
  req(1, 'uid', 'uint32'),
  req(2, 'euid', 'uint32'),
  req(3, 'signum', 'uint32'),
  req(4, 'pid_type', 'uint32'),
  req(5, 'pid', 'uint32'),
]);
