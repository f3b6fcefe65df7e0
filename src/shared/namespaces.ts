/**
 * Namespace ids as CRIU numbers them: one id per distinct namespace, handed out in CRIU's order
 * (pid, net, ipc, uts, time, mnt, user, cgroup), cryo's own namespaces first (inventory root_ids).
 * cryo dumps tasks that share all of cryo's namespaces; any other is refused with its name.
 */
import { readNamespaces } from '../proc/index.js';
import type { MessageValue } from '../images/index.js';
import { DumpError } from './dump-error.js';

const ORDER: readonly [string, string][] = [
  ['pid', 'pid_ns_id'], ['net', 'net_ns_id'], ['ipc', 'ipc_ns_id'], ['uts', 'uts_ns_id'],
  ['time', 'time_ns_id'], ['mnt', 'mnt_ns_id'], ['user', 'user_ns_id'], ['cgroup', 'cgroup_ns_id'],
];

/** The namespace kinds namespaceIds reads (the ns directory holds more: no listing of it, inside the freeze). */
const ORDER_NAMES = ORDER.map(([ns]) => ns);

/** cryo's own namespaces, as namespaceIds compares them (a tree's dump reads them once). */
export const ownNamespaces = (): Record<string, bigint> => readNamespaces('self', undefined, ORDER_NAMES);

/** [root ids (cryo's own, for the inventory), the task's ids] with vm/files/fs/sighand ids 1 and 2 as CRIU gives them. */
export function namespaceIds(pid: number, mine = ownNamespaces(), theirs = readNamespaces(pid, undefined, ORDER_NAMES)): [MessageValue, MessageValue] {
  // A kind this kernel lacks reads as 0 (no link): left out, as when the directory did not list it.
  const root: MessageValue = { vm_id: 1, files_id: 1, fs_id: 1, sighand_id: 1 };
  const task: MessageValue = { vm_id: 2, files_id: 2, fs_id: 2, sighand_id: 2 };
  let next = 1;
  for (const [ns, field] of ORDER) {
    if (mine[ns] === undefined || mine[ns] === 0n) continue; // kernel without this namespace kind
    root[field] = next;
    if (theirs[ns] !== mine[ns]) {
      throw new DumpError('UNSUPPORTED', `task ${pid} is in another ${ns} namespace than cryo: cryo cannot dump namespaces yet (run cryo inside the task's namespaces)`);
    }
    task[field] = next++;
  }
  return [root, task];
}

/** Namespaces a thread makes for its children to enter (unshare): what each one is, and what CRIU does with it. */
const FOR_CHILDREN: readonly { ns: string; what: string; flag: string; criu: string; entered: string }[] = [
  { ns: 'time', what: 'a time namespace', flag: 'CLONE_NEWTIME', criu: 'neither can CRIU', entered: ' that none has entered yet' },
  { ns: 'pid', what: 'a PID namespace', flag: 'CLONE_NEWPID', criu: 'CRIU dumps it and loses it', entered: '' },
];

/**
 * A process's links that namespaceIds and checkForChildren (its `main`) read, read once for both
 * (tree-50: 100 readlinks fewer). Only these links, not the whole ns directory: a task of 100
 * threads took 20 ms more.
 */
export const taskNamespaces = (pid: number): Record<string, bigint> => readNamespaces(pid, undefined, [...ORDER_NAMES, ...FOR_CHILDREN.map((k) => `${k.ns}_for_children`)]);

/**
 * A thread that made a time or PID namespace for its children (unshare) that none of them is in
 * now: a restored task would fork its children into its own one. Refused (CRIU refuses the time
 * one, and dumps the PID one without it). A PID namespace one child entered, alive, is refused
 * here as well (that child is in another PID namespace).
 */
export function checkForChildren(pid: number, tids: readonly number[], main: Record<string, bigint>): void {
  // A thread's own pid and time namespaces are its process's (setns into a time namespace wants a
  // single thread; clone keeps them): only its *_for_children links are its own.
  const childNames = FOR_CHILDREN.map((k) => `${k.ns}_for_children`);
  for (const tid of tids) {
    const ns = tid === pid ? main : { ...main, ...readNamespaces(pid, tid, childNames) };
    for (const k of FOR_CHILDREN) {
      const kids = ns[`${k.ns}_for_children`];
      if (kids === undefined || kids === ns[k.ns]) continue;
      const who = tid === pid ? `task ${pid}` : `thread ${tid} of task ${pid}`;
      throw new DumpError('UNSUPPORTED', `${who} made ${k.what} for its children (unshare ${k.flag}: its ns/${k.ns}_for_children is not its ns/${k.ns})${k.entered}: cryo cannot restore that (${k.criu}); dump it before that unshare`);
    }
  }
}
