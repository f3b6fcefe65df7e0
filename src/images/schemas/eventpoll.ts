// eventpoll.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt, rep } from '../schema.js';
import { fown_entry } from './fown.js';

export const eventpoll_tfd_entry = message('eventpoll_tfd_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'tfd', 'uint32'),
  req(3, 'events', 'uint32'),
  req(4, 'data', 'uint64'),
  opt(5, 'dev', 'uint32'),
  opt(6, 'inode', 'uint64'),
  opt(7, 'pos', 'uint64'),
]);

export const eventpoll_file_entry = message('eventpoll_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32'),
  req(3, 'fown', () => fown_entry),
  rep(4, 'tfd', () => eventpoll_tfd_entry),
]);
