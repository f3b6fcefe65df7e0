// ipc-shm.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';
import { ipc_desc_entry } from './ipc-desc.js';

export const ipc_shm_entry = message('ipc_shm_entry', [
  req(1, 'desc', () => ipc_desc_entry),
  req(2, 'size', 'uint64'),
  opt(3, 'in_pagemaps', 'bool'),
  opt(4, 'hugetlb_flag', 'uint32'),
]);
