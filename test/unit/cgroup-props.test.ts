// Which cgroup files cgroup.img keeps, and how their values are read (src/shared/cgroup-props.ts),
// and the --manage-cgroups modes the command line takes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupPropNames, cgroupPropValue, isCgroupPropName } from '../../src/shared/cgroup-props.js';
import { manageCgroupsOf } from '../../src/cli/commands/cgroup-options.js';

test('a v1 hierarchy keeps its controllers\' files and the global ones; v2 its own list, type before subtree_control', () => {
  const cpu = cgroupPropNames('cpu,cpuacct');
  assert.ok(cpu.includes('cpu.cfs_quota_us') && cpu.includes('notify_on_release') && cpu.includes('tasks'));
  assert.deepEqual(cgroupPropNames('name=systemd'), ['cgroup.clone_children', 'notify_on_release', 'cgroup.procs', 'tasks']);
  const v2 = cgroupPropNames('');
  assert.ok(v2.includes('memory.max') && v2.includes('pids.max') && !v2.includes('tasks'));
  assert.ok(v2.indexOf('cgroup.type') < v2.indexOf('cgroup.subtree_control'));
});

test('a value is the file without its last newline; memory.oom_control is its writable flag', () => {
  assert.equal(cgroupPropValue('pids.max', 'max\n'), 'max');
  assert.equal(cgroupPropValue('devices.list', 'c 1:3 rwm\nc 1:5 rwm\n'), 'c 1:3 rwm\nc 1:5 rwm');
  assert.equal(cgroupPropValue('memory.oom_control', 'oom_kill_disable 1\nunder_oom 0\noom_kill 0\n'), '1');
});

test('a property name must be a file of the cgroup itself', () => {
  for (const ok of ['pids.max', 'notify_on_release', 'memory.kmem.tcp.limit_in_bytes']) assert.ok(isCgroupPropName(ok), ok);
  for (const bad of ['../x', 'a/b', '.hidden', '', 'pids.max/..', 'x..y']) assert.ok(!isCgroupPropName(bad), bad);
});

test('--manage-cgroups takes CRIU\'s six modes, soft by default, and names them when given another', () => {
  assert.equal(manageCgroupsOf(undefined), 'soft');
  for (const m of ['none', 'props', 'soft', 'full', 'strict', 'ignore']) assert.equal(manageCgroupsOf(m), m);
  assert.throws(() => manageCgroupsOf('hard'), /--manage-cgroups hard: expected one of CRIU's modes: soft .* ignore/);
});
