// ipc-sem.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';
import { ipc_desc_entry } from './ipc-desc.js';

export const ipc_sem_entry = message('ipc_sem_entry', [
  req(1, 'desc', () => ipc_desc_entry),
  req(2, 'nsems', 'uint32'),
]);
