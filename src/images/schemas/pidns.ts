// pidns.proto of CRIU 4.2, as cryo schema data.

import { message, opt } from '../schema.js';

export const pidns_entry = message('pidns_entry', [
  opt(1, 'ext_key', 'string'),
]);
