// utsns.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';

export const utsns_entry = message('utsns_entry', [
  req(1, 'nodename', 'string'),
  req(2, 'domainname', 'string'),
]);
