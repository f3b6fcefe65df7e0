// timer.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt, rep } from '../schema.js';

export const itimer_entry = message('itimer_entry', [
  req(1, 'isec', 'uint64'),
  req(2, 'iusec', 'uint64'),
  req(3, 'vsec', 'uint64'),
  req(4, 'vusec', 'uint64'),
]);

export const posix_timer_entry = message('posix_timer_entry', [
  req(1, 'it_id', 'uint32'),
  req(2, 'clock_id', 'uint32'),
  req(3, 'si_signo', 'uint32'),
  req(4, 'it_sigev_notify', 'uint32'),
  req(5, 'sival_ptr', 'uint64'),
  req(6, 'overrun', 'uint32'),
  req(7, 'isec', 'uint64'),
  req(8, 'insec', 'uint64'),
  req(9, 'vsec', 'uint64'),
  req(10, 'vnsec', 'uint64'),
  opt(11, 'notify_thread_id', 'int32'),
]);

export const task_timers_entry = message('task_timers_entry', [
  req(1, 'real', () => itimer_entry),
  req(2, 'virt', () => itimer_entry),
  req(3, 'prof', () => itimer_entry),
  rep(4, 'posix', () => posix_timer_entry),
]);
