// Namespace files (NS, ns_file_entry: a descriptor of /proc/PID/ns/TYPE, such as an open
// /proc/self/ns/net). cryo dumps tasks that are in all of its own namespaces, so it dumps the files
// of those namespaces (the tree's own) and refuses a file of any other (another container's
// network namespace, say: nothing in the images could make it again). Restore opens
// /proc/self/ns/TYPE in the task: the namespace it is in again.
import { DumpError } from '../shared/dump-error.js';
import { RestoreError } from '../shared/restore-error.js';
import { namespaceIds } from '../shared/namespaces.js';
import { openInTask } from '../shared/task-ctx.js';
import { readNamespaces } from '../proc/index.js';
import { O_OPEN_ONLY, num } from '../shared/constants.js';
import type { FdKind } from './kind.js';

/** Each namespace kind: its /proc/PID/ns name, its CLONE_NEW* flag (ns_cflag) and its ids-PID.img field. */
const KINDS: readonly { name: string; cflag: number; field: string }[] = [
  { name: 'mnt', cflag: 0x00020000, field: 'mnt_ns_id' },
  { name: 'cgroup', cflag: 0x02000000, field: 'cgroup_ns_id' },
  { name: 'uts', cflag: 0x04000000, field: 'uts_ns_id' },
  { name: 'ipc', cflag: 0x08000000, field: 'ipc_ns_id' },
  { name: 'user', cflag: 0x10000000, field: 'user_ns_id' },
  { name: 'pid', cflag: 0x20000000, field: 'pid_ns_id' },
  { name: 'net', cflag: 0x40000000, field: 'net_ns_id' },
  { name: 'time', cflag: 0x00000080, field: 'time_ns_id' },
];

export const nsFileKind: FdKind = {
  type: 'NS', field: 'nsf', name: 'namespace files of the tree\'s own namespaces',
  matches: (c) => c.target.kind === 'namespace',
  dump(c) {
    const t = c.target as { nsType: string; inode: bigint };
    const kind = KINDS.find((k) => k.name === t.nsType);
    const what = `fd ${c.fd} of task ${c.pid} (${t.nsType}:[${t.inode}])`;
    if (!kind) throw new DumpError('UNSUPPORTED', `${what} is a file of a ${t.nsType} namespace, a kind cryo does not know`);
    if (readNamespaces(c.pid)[kind.name] !== t.inode) {
      throw new DumpError('UNSUPPORTED', `${what} is a file of a ${t.nsType} namespace the task is not in: cryo dumps files of the tree's own namespaces only`);
    }
    return { id: c.id, ns_id: num(namespaceIds(c.pid)[1][kind.field]), ns_cflag: kind.cflag, flags: c.flags };
  },
  check(img, e, why) {
    const kind = KINDS.find((k) => k.cflag === num(e.ns_cflag));
    if (!kind) throw new RestoreError('UNSUPPORTED', `${why} is a file of a namespace of kind 0x${num(e.ns_cflag).toString(16)}, which cryo does not know`);
    if (img.ids[kind.field] === undefined || num(img.ids[kind.field]) !== num(e.ns_id)) {
      throw new RestoreError('UNSUPPORTED', `${why} is a file of ${kind.name} namespace ${num(e.ns_id)}, not the task's own (${num(img.ids[kind.field])}): cryo restores files of the tree's own namespaces only`);
    }
  },
  restore({ ctx, entry: e, why }) {
    const kind = KINDS.find((k) => k.cflag === num(e.ns_cflag))!;
    return openInTask(ctx, `/proc/self/ns/${kind.name}`, num(e.flags) & ~O_OPEN_ONLY, why);
  },
};
