// pipe.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';
import { fown_entry } from './fown.js';

export const pipe_entry = message('pipe_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'pipe_id', 'uint32'),
  req(3, 'flags', 'uint32', { hex: true }),
  req(4, 'fown', () => fown_entry),
]);
