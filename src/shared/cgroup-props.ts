// The files of a cgroup that cgroup.img keeps (cgroup_dir_entry.properties): CRIU 4.2's default
// list per v1 controller and its global files, and on cgroup v2, besides CRIU's global files, the
// limits of the v2 controllers, which CRIU's defaults leave out (a restored cgroup would otherwise
// come back unlimited). Dump reads those that exist; restore writes them back (restore/cgroups.ts).

const V1_CONTROLLER_FILES: Readonly<Record<string, readonly string[]>> = {
  cpu: ['cpu.shares', 'cpu.cfs_period_us', 'cpu.cfs_quota_us', 'cpu.rt_period_us', 'cpu.rt_runtime_us'],
  // use_hierarchy first: the kernel takes it only while the cgroup has no children.
  memory: ['memory.use_hierarchy', 'memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', 'memory.swappiness', 'memory.soft_limit_in_bytes',
    'memory.move_charge_at_immigrate', 'memory.oom_control', 'memory.kmem.limit_in_bytes', 'memory.kmem.tcp.limit_in_bytes'],
  cpuset: ['cpuset.cpus', 'cpuset.mems', 'cpuset.memory_migrate', 'cpuset.cpu_exclusive', 'cpuset.mem_exclusive', 'cpuset.mem_hardwall',
    'cpuset.memory_spread_page', 'cpuset.memory_spread_slab', 'cpuset.sched_load_balance', 'cpuset.sched_relax_domain_level'],
  blkio: ['blkio.weight'],
  net_cls: ['net_cls.classid'],
  net_prio: ['net_prio.ifpriomap'],
  pids: ['pids.max'],
  devices: ['devices.list'],
};

const V1_GLOBAL_FILES = ['cgroup.clone_children', 'notify_on_release', 'cgroup.procs', 'tasks'];

// cgroup.type before cgroup.subtree_control: a threaded cgroup's parent enables threaded controllers only.
const V2_FILES = ['cgroup.type', 'cgroup.subtree_control', 'cgroup.max.descendants', 'cgroup.max.depth', 'cgroup.freeze',
  'cpu.max', 'cpu.weight', 'cpuset.cpus', 'cpuset.mems', 'memory.min', 'memory.low', 'memory.high', 'memory.max',
  'memory.swap.max', 'memory.oom.group', 'pids.max'];

/** The files kept for a cgroup of hierarchy `name` ("" is cgroup v2; v1: its controllers joined by ","), in the order restore writes them. */
export function cgroupPropNames(name: string): string[] {
  if (name === '') return V2_FILES;
  return [...name.split(',').flatMap((c) => V1_CONTROLLER_FILES[c] ?? []), ...V1_GLOBAL_FILES];
}

/** Files whose contents are the cgroup's members: only their owner and mode are restored (a delegated cgroup). */
export const isMemberFile = (name: string): boolean => name === 'cgroup.procs' || name === 'tasks';

/** Files written one line at a time, where a line the machine refuses is left out (an interface it lacks). */
export const isPerLineFile = (name: string): boolean => name === 'net_prio.ifpriomap';

/** A name cgroup.img may give a property: a file of the cgroup's own directory. */
export const isCgroupPropName = (name: string): boolean => /^[a-z0-9_]+(\.[a-z0-9_]+)*$/.test(name);

/** A property's value as kept: the file's text without its last newline; memory.oom_control as its oom_kill_disable flag (what is writable). */
export function cgroupPropValue(name: string, text: string): string {
  const value = text.replace(/\n$/, '');
  if (name === 'memory.oom_control') return /^oom_kill_disable (\d+)/.exec(value)?.[1] ?? value;
  return value;
}
