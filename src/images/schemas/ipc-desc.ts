// ipc-desc.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';

export const ipc_desc_entry = message('ipc_desc_entry', [
  req(1, 'key', 'uint32'),
  req(2, 'uid', 'uint32'),
  req(3, 'gid', 'uint32'),
  req(4, 'cuid', 'uint32'),
  req(5, 'cgid', 'uint32'),
  req(6, 'mode', 'uint32'),
  req(7, 'id', 'uint32'),
]);
