// rseq.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';

export const rseq_entry = message('rseq_entry', [
  req(1, 'rseq_abi_pointer', 'uint64'),
  req(2, 'rseq_abi_size', 'uint32'),
  req(3, 'signature', 'uint32'),
  opt(4, 'rseq_cs_pointer', 'uint64'),
]);
