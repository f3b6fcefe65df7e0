// ext-file.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';
import { fown_entry } from './fown.js';

export const ext_file_entry = message('ext_file_entry', [
  req(1, 'id', 'uint32'),
  req(5, 'fown', () => fown_entry),
]);
