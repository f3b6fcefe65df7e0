// time.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';

export const timeval = message('timeval', [
  req(1, 'tv_sec', 'uint64'),
  req(2, 'tv_usec', 'uint64'),
]);
