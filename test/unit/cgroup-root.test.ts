// --cgroup-root's parsing and the path rewriting it drives (src/shared/cgroup-root.ts), and the
// command line's bare --manage-cgroups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupMountFor, cgroupRootFor, isCgroupPath, moveCgroupPath, parseCgroupRoots } from '../../src/shared/cgroup-root.js';
import { withManageCgroupsDefault } from '../../src/cli/commands/cgroup-options.js';
import { parseMountinfo } from '../../src/proc/mountinfo.js';

test('--cgroup-root values: one for all hierarchies, others per controller', () => {
  const r = parseCgroupRoots(['/newroot/', 'name=zdtmtst:/prefix', 'cpu:/a/../b']);
  assert.equal(r.all, '/newroot');
  assert.deepEqual([...r.byController], [['name=zdtmtst', '/prefix'], ['cpu', '/b']]);
  assert.equal(cgroupRootFor(r, ['name=zdtmtst']), '/prefix');
  assert.equal(cgroupRootFor(r, ['cpu', 'cpuacct']), '/b');
  assert.equal(cgroupRootFor(r, ['']), '/newroot');
  assert.equal(cgroupRootFor(undefined, ['cpu']), undefined);
  assert.equal(parseCgroupRoots(['/with:colon']).all, '/with:colon');
  for (const bad of ['relative', 'cpu:relative', ':/x', '']) assert.throws(() => parseCgroupRoots([bad]), /expected \[CONTROLLER:\]\/PATH/);
});

test('a cgroup path moves with its root, and only under it', () => {
  assert.equal(moveCgroupPath('/p/kid', '/p', '/moved'), '/moved/kid');
  assert.equal(moveCgroupPath('/p', '/p', '/moved'), '/moved');
  assert.equal(moveCgroupPath('/x', '/', '/newroot'), '/newroot/x');
  assert.equal(moveCgroupPath('/pp', '/p', '/moved'), undefined);
  assert.equal(moveCgroupPath('/q/..p', '/q', '/m'), '/m/..p');
  assert.equal(moveCgroupPath('/', '/p', '/moved'), undefined);
});

test('cgroup paths from an image: absolute and normalized only', () => {
  for (const ok of ['/', '/a', '/a/b', '/a/..b']) assert.ok(isCgroupPath(ok), ok);
  for (const bad of ['', 'a', '/a/', '/a/../../etc', '/..', '//a', '/a/./b']) assert.ok(!isCgroupPath(bad), bad);
});

test('the mount through which a cgroup is reached', () => {
  const mounts = parseMountinfo([
    '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
    '40 31 0:37 /sub /mnt/sd rw,relatime - cgroup cgroup rw,name=systemd',
    '41 31 0:38 / /unified rw,relatime - cgroup2 cgroup2 rw',
  ].join('\n') + '\n');
  assert.equal(cgroupMountFor(mounts, 'cpu,cpuacct', '/a')?.mountPoint, '/sys/fs/cgroup/cpu,cpuacct');
  assert.equal(cgroupMountFor(mounts, 'name=systemd', '/sub/x')?.mountPoint, '/mnt/sd');
  assert.equal(cgroupMountFor(mounts, 'name=systemd', '/subx'), undefined);
  assert.equal(cgroupMountFor(mounts, '', '/x')?.mountPoint, '/unified');
  assert.equal(cgroupMountFor(mounts, 'memory', '/'), undefined);
});

test('a bare --manage-cgroups means soft, as with CRIU', () => {
  assert.deepEqual(withManageCgroupsDefault(['--manage-cgroups', '--cgroup-root', '/x']), ['--manage-cgroups=soft', '--cgroup-root', '/x']);
  assert.deepEqual(withManageCgroupsDefault(['-D', 'd', '--manage-cgroups']), ['-D', 'd', '--manage-cgroups=soft']);
  assert.deepEqual(withManageCgroupsDefault(['--manage-cgroups', 'ignore']), ['--manage-cgroups', 'ignore']);
});
