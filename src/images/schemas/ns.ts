// ns.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';

export const ns_file_entry = message('ns_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'ns_id', 'uint32'),
  req(3, 'ns_cflag', 'uint32'),
  req(4, 'flags', 'uint32'),
]);
