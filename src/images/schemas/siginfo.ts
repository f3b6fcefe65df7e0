// siginfo.proto of CRIU 4.2, as cryo schema data.

import { message, req, rep } from '../schema.js';

export const siginfo_entry = message('siginfo_entry', [
  req(1, 'siginfo', 'bytes'),
]);

export const signal_queue_entry = message('signal_queue_entry', [
  rep(1, 'signals', () => siginfo_entry),
]);
