// pipe-data.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';

export const pipe_data_entry = message('pipe_data_entry', [
  req(1, 'pipe_id', 'uint32'),
  req(2, 'bytes', 'uint32'),
  opt(3, 'size', 'uint32'),
]);
