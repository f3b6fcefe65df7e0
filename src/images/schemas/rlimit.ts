// rlimit.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';

export const rlimit_entry = message('rlimit_entry', [
  req(1, 'cur', 'uint64'),
  req(2, 'max', 'uint64'),
]);
