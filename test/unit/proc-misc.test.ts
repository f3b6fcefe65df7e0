import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  mountsById, parseCgroup, parseChildren, parseComm, parseLimits, parseMountinfo, parseNulList, parsePersonality,
  parseSched, parseTimers, ProcReadError, readProcTextLater, splitDeleted,
} from '../../src/proc/index.js';
import { repoRoot } from '../helpers/paths.js';

const fixture = (name: string) => readFileSync(path.join(repoRoot, 'test/unit/fixtures/proc', name), 'utf8');

test('timers: captured sample and the other notify forms', () => {
  assert.deepEqual(parseTimers(fixture('timers.txt')), [
    { id: 0, signal: 35, sigval: 0xabcn, notify: 'signal', threadId: false, target: 4781, clockId: 0 },
  ]);
  const t = parseTimers('ID: 3\nsignal: 14/(null)\nnotify: thread/tid.77\nClockID: 1\nID: 4\nsignal: 0/0000000000000000\nnotify: none/pid.5\nClockID: 7\n');
  assert.deepEqual(t.map((x) => [x.id, x.sigval, x.notify, x.threadId, x.target, x.clockId]), [
    [3, 0n, 'thread', true, 77, 1],
    [4, 0n, 'none', false, 5, 7],
  ]);
  assert.throws(() => parseTimers('ID: 1\n'), /groups of 4/);
});

test('mountinfo: captured sample and escapes, optional fields', () => {
  const mounts = parseMountinfo(fixture('mountinfo.txt'));
  const root = mountsById(mounts).get(27)!;
  assert.deepEqual([root.mountPoint, root.parentId, root.devMajor, root.devMinor, root.fsType, root.source], ['/', 1, 254, 0, 'ext4', '/dev/vda']);
  const m = parseMountinfo('36 35 98:0 /mnt\\0401 /a\\011b\\134c rw,noatime shared:1 master:2 propagate_from:3 unbindable - ext3 /dev/my\\040disk rw,errors=continue\n')[0]!;
  assert.deepEqual([m.root, m.mountPoint, m.source], ['/mnt 1', '/a\tb\\c', '/dev/my disk']);
  assert.deepEqual([m.shared, m.master, m.propagateFrom, m.unbindable, m.optional.length], [1, 2, 3, true, 4]);
  assert.equal(m.superOptions, 'rw,errors=continue');
  const plain = parseMountinfo('22 27 0:21 / /proc rw,relatime - proc proc rw\n')[0]!;
  assert.deepEqual([plain.shared, plain.master, plain.unbindable, plain.optional], [null, null, false, []]);
  assert.throws(() => parseMountinfo('1 2 3\n'), /mountinfo/);
});

test('cgroup: v1 and v2 lines, paths with colons', () => {
  const c = parseCgroup(fixture('cgroup.txt'));
  assert.deepEqual(c[0], { hierarchyId: 9, controllers: ['name=systemd'], path: '/' });
  assert.deepEqual(c[c.length - 1], { hierarchyId: 0, controllers: [], path: '/' });
  assert.deepEqual(parseCgroup('4:cpu,cpuacct:/a:b\n')[0], { hierarchyId: 4, controllers: ['cpu', 'cpuacct'], path: '/a:b' });
});

test('small files: comm, cmdline, personality, children, sched, limits, deleted links', () => {
  assert.equal(parseComm('pr) (x\n'), 'pr) (x');
  assert.deepEqual(parseNulList('a\0b c\0\0'), ['a', 'b c', '']);
  assert.deepEqual(parseNulList(''), []);
  assert.equal(parsePersonality('00400000\n'), 0x400000);
  assert.deepEqual(parseChildren('12 13 \n'), [12, 13]);
  assert.deepEqual(parseChildren(''), []);
  const sched = parseSched('cat (5645, #threads: 1)\n----\nse.exec_start    :   220204.279634\npolicy      :      0\nprio   :  120\n');
  assert.deepEqual(sched, { 'se.exec_start': '220204.279634', policy: '0', prio: '120' });
  const lim = parseLimits(
    'Limit                     Soft Limit           Hard Limit           Units     \n' +
      'Max stack size            8388608              unlimited            bytes     \n' +
      'Max open files            1024                 524288               files     \n' +
      'Max realtime timeout      unlimited            unlimited            us        \n',
  );
  assert.deepEqual(lim[0], { name: 'Max stack size', soft: 8388608n, hard: null, units: 'bytes' });
  assert.deepEqual(lim[1], { name: 'Max open files', soft: 1024n, hard: 524288n, units: 'files' });
  assert.equal(lim[2]!.units, 'us');
  assert.deepEqual(splitDeleted('/x (deleted)'), { path: '/x', deleted: true });
});

test('ProcReadError: one clear line naming the file and errno', () => {
  const e = new ProcReadError('/proc/1234/maps', 'ENOENT');
  assert.equal(e.message, 'cannot read /proc/1234/maps: the process is gone (ENOENT)');
  assert.equal(e.gone, true);
  assert.equal(new ProcReadError('/proc/1/mem', 'EACCES').gone, false);
});

test('readProcTextLater: a seq_file to its end, though each read gives a page at most', async () => {
  // /proc/kallsyms: megabytes of a seq_file that does not change between two reads.
  const whole = readFileSync('/proc/kallsyms', 'utf8');
  assert.ok(whole.length > 64 << 10, `/proc/kallsyms is ${whole.length} bytes`);
  assert.equal((await readProcTextLater('/proc/kallsyms')).length, whole.length);
});
