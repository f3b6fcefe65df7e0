// bpfmap-data.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';

export const bpfmap_data_entry = message('bpfmap_data_entry', [
  req(1, 'map_id', 'uint32'),
  req(2, 'keys_bytes', 'uint32'),
  req(3, 'values_bytes', 'uint32'),
  req(4, 'count', 'uint32'),
]);
