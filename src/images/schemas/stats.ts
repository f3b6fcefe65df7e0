// stats.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';

export const dump_stats_entry = message('dump_stats_entry', [
  req(1, 'freezing_time', 'uint32'),
  req(2, 'frozen_time', 'uint32'),
  req(3, 'memdump_time', 'uint32'),
  req(4, 'memwrite_time', 'uint32'),
  req(5, 'pages_scanned', 'uint64'),
  req(6, 'pages_skipped_parent', 'uint64'),
  req(7, 'pages_written', 'uint64'),
  opt(8, 'irmap_resolve', 'uint32'),
  req(9, 'pages_lazy', 'uint64'),
  opt(10, 'page_pipes', 'uint64'),
  opt(11, 'page_pipe_bufs', 'uint64'),
  opt(12, 'shpages_scanned', 'uint64'),
  opt(13, 'shpages_skipped_parent', 'uint64'),
  opt(14, 'shpages_written', 'uint64'),
]);

export const restore_stats_entry = message('restore_stats_entry', [
  req(1, 'pages_compared', 'uint64'),
  req(2, 'pages_skipped_cow', 'uint64'),
  req(3, 'forking_time', 'uint32'),
  req(4, 'restore_time', 'uint32'),
  opt(5, 'pages_restored', 'uint64'),
]);

export const stats_entry = message('stats_entry', [
  opt(1, 'dump', () => dump_stats_entry),
  opt(2, 'restore', () => restore_stats_entry),
]);
