// ipc-var.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt, rep } from '../schema.js';

export const ipc_var_entry = message('ipc_var_entry', [
  rep(1, 'sem_ctls', 'uint32'),
  req(2, 'msg_ctlmax', 'uint32'),
  req(3, 'msg_ctlmnb', 'uint32'),
  req(4, 'msg_ctlmni', 'uint32'),
  req(5, 'auto_msgmni', 'uint32'),
  req(6, 'shm_ctlmax', 'uint64'),
  req(7, 'shm_ctlall', 'uint64'),
  req(8, 'shm_ctlmni', 'uint32'),
  req(9, 'shm_rmid_forced', 'uint32'),
  req(10, 'mq_queues_max', 'uint32'),
  req(11, 'mq_msg_max', 'uint32'),
  req(12, 'mq_msgsize_max', 'uint32'),
  opt(13, 'mq_msg_default', 'uint32'),
  opt(14, 'mq_msgsize_default', 'uint32'),
  opt(15, 'msg_next_id', 'uint32'),
  opt(16, 'sem_next_id', 'uint32'),
  opt(17, 'shm_next_id', 'uint32'),
]);
