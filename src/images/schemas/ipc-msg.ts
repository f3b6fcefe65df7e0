// ipc-msg.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';
import { ipc_desc_entry } from './ipc-desc.js';

export const ipc_msg = message('ipc_msg', [
  req(1, 'mtype', 'uint64'),
  req(2, 'msize', 'uint32'),
]);

export const ipc_msg_entry = message('ipc_msg_entry', [
  req(1, 'desc', () => ipc_desc_entry),
  req(2, 'qbytes', 'uint32'),
  req(3, 'qnum', 'uint32'),
]);
