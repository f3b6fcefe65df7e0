// netdev.proto of CRIU 4.2, as cryo schema data.

import { enumDef, message, req, opt, rep } from '../schema.js';
import { macvlan_link_entry } from './macvlan.js';
import { sit_entry } from './sit.js';
import { sysctl_entry } from './sysctl.js';
import { tun_link_entry } from './tun.js';

export const nd_type = enumDef('nd_type', {
  LOOPBACK: 1,
  VETH: 2,
  TUN: 3,
  EXTLINK: 4,
  VENET: 5,
  BRIDGE: 6,
  MACVLAN: 7,
  SIT: 8,
});

export const net_device_entry = message('net_device_entry', [
  req(1, 'type', nd_type),
  req(2, 'ifindex', 'uint32'),
  req(3, 'mtu', 'uint32'),
  req(4, 'flags', 'uint32', { hex: true }),
  req(5, 'name', 'string'),
  opt(6, 'tun', () => tun_link_entry),
  opt(7, 'address', 'bytes'),
  rep(8, 'conf', 'int32'),
  rep(9, 'conf4', () => sysctl_entry),
  rep(10, 'conf6', () => sysctl_entry),
  opt(11, 'macvlan', () => macvlan_link_entry),
  opt(12, 'peer_ifindex', 'uint32'),
  opt(13, 'peer_nsid', 'uint32'),
  opt(14, 'master', 'uint32'),
  opt(15, 'sit', () => sit_entry),
]);

export const netns_id = message('netns_id', [
  req(1, 'target_ns_id', 'uint32'),
  req(2, 'netnsid_value', 'int32'),
]);

export const netns_entry = message('netns_entry', [
  rep(1, 'def_conf', 'int32'),
  rep(2, 'all_conf', 'int32'),
  rep(3, 'def_conf4', () => sysctl_entry),
  rep(4, 'all_conf4', () => sysctl_entry),
  rep(5, 'def_conf6', () => sysctl_entry),
  rep(6, 'all_conf6', () => sysctl_entry),
  rep(7, 'nsids', () => netns_id),
  opt(8, 'ext_key', 'string'),
  rep(9, 'unix_conf', () => sysctl_entry),
  rep(10, 'ipv4_sysctl', () => sysctl_entry),
]);
