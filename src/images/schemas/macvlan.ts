// macvlan.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';

export const macvlan_link_entry = message('macvlan_link_entry', [
  req(1, 'mode', 'uint32'),
  opt(2, 'flags', 'uint32'),
]);
