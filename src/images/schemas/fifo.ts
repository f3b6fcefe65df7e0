// fifo.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';

export const fifo_entry = message('fifo_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'pipe_id', 'uint32'),
  opt(3, 'regf_id', 'uint32'),
]);
