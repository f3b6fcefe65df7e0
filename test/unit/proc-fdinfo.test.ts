import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { classifyFdLink, parseFdinfo, parseLocks } from '../../src/proc/index.js';
import { repoRoot } from '../helpers/paths.js';

/** Fixture files start with "# link: TARGET" (the captured /proc/PID/fd/N), then the fdinfo text. */
function sample(fd: number) {
  const text = readFileSync(path.join(repoRoot, 'test/unit/fixtures/proc', `fdinfo-${fd}.txt`), 'utf8');
  const nl = text.indexOf('\n');
  return { link: text.slice('# link: '.length, nl), info: parseFdinfo(text.slice(nl + 1)) };
}

test('fdinfo: common fields', () => {
  const { link, info } = sample(0);
  assert.deepEqual(classifyFdLink(link), { kind: 'path', path: '/dev/null', deleted: false });
  assert.deepEqual([info.pos, info.flags, info.mntId, info.inode], [0n, 0o100000, 24, 3n]);
  assert.deepEqual(info.other, {});
});

test('fdinfo: pipe, file with flock, memfd', () => {
  const pipe = sample(10);
  assert.deepEqual(classifyFdLink(pipe.link), { kind: 'pipe', inode: 8491n });
  assert.equal(pipe.info.flags, 1); // O_WRONLY
  const file = sample(3);
  assert.deepEqual(classifyFdLink(file.link), { kind: 'path', path: '/tmp/proc state 4781.dat', deleted: true });
  assert.equal(file.info.locks.length, 1);
  assert.deepEqual(file.info.locks[0], {
    id: 1, blocked: false, kind: 'FLOCK', mode: 'ADVISORY', type: 'WRITE', pid: 4781,
    devMajor: 0xfe, devMinor: 0, inode: 2146353n, start: 0n, end: null,
  });
  const memfd = sample(4);
  assert.deepEqual(classifyFdLink(memfd.link), { kind: 'path', path: '/memfd:cryo test', deleted: true });
});

test('fdinfo: eventfd, epoll, timerfd, signalfd, inotify, pidfd', () => {
  const ev = sample(5);
  assert.deepEqual(classifyFdLink(ev.link), { kind: 'anon', anonKind: 'eventfd' });
  assert.deepEqual(ev.info.eventfd, { count: 42n, id: 1, semaphore: false });
  assert.equal(ev.info.flags, 0o4002); // O_RDWR|O_NONBLOCK

  const ep = sample(11);
  assert.deepEqual(ep.info.epoll, [{ tfd: 5, events: 0x19, data: 0x1234n, pos: 0n, inode: 0x40fn, sdev: 0x10 }]);

  const tf = sample(6);
  assert.equal(tf.info.timerfd!.clockId, 1);
  assert.equal(tf.info.timerfd!.ticks, 0n);
  assert.equal(tf.info.timerfd!.settimeFlags, 0);
  assert.deepEqual(tf.info.timerfd!.interval, { sec: 7n, nsec: 0 });
  assert.ok(tf.info.timerfd!.value.sec > 900n);

  const sf = sample(7);
  assert.deepEqual(sf.info.signalfd, { sigmask: 0x8000800n });
  assert.equal(sf.info.flags, 0o2000002); // O_CLOEXEC|O_RDWR

  const ino = sample(8);
  assert.deepEqual(classifyFdLink(ino.link), { kind: 'anon', anonKind: 'inotify' });
  const w = ino.info.inotify![0]!;
  assert.deepEqual([w.wd, w.inode, w.sdev, w.mask, w.ignoredMask], [1, 0x3f7e8n, 0xfe00000, 0x300, 0]);
  assert.deepEqual([w.fhandle!.bytes, w.fhandle!.type, w.fhandle!.handle.toString('hex')], [8, 1, 'e8f7030000000000']);

  const pf = sample(12);
  assert.deepEqual(classifyFdLink(pf.link), { kind: 'anon', anonKind: 'pidfd' });
  assert.deepEqual(pf.info.pidfd, { pid: 4781, nsPid: [4781] });
});

test('fdinfo: fanotify, old epoll lines, other keys, epoll with no targets', () => {
  const fa = parseFdinfo(
    'pos:\t0\nflags:\t02\nmnt_id:\t9\nfanotify flags:10 event-flags:0\n' +
      'fanotify mnt_id:18 mflags:0 mask:3b ignored_mask:0\n' +
      'fanotify ino:4f969 sdev:800013 mflags:0 mask:3b ignored_mask:40000000 fhandle-bytes:8 fhandle-type:1 f_handle:69f90400c275b5b4\n' +
      'fanotify sdev:800013 mflags:0 mask:1 ignored_mask:0\n',
  );
  assert.equal(fa.inode, null);
  assert.deepEqual([fa.fanotify!.flags, fa.fanotify!.eventFlags], [0x10, 0]);
  assert.deepEqual(fa.fanotify!.marks.map((m) => m.type), ['mount', 'inode', 'sb']);
  const m0 = fa.fanotify!.marks[0]!;
  assert.ok(m0.type === 'mount' && m0.mntId === 0x18 && m0.mask === 0x3b);
  const m1 = fa.fanotify!.marks[1]!;
  assert.ok(m1.type === 'inode' && m1.inode === 0x4f969n && m1.ignoredMask === 0x40000000 && m1.fhandle!.handle.length === 8);

  const old = parseFdinfo('pos:\t0\nflags:\t02\ntfd:        3 events:       1d data:   ffffffffffffffff\n');
  assert.deepEqual(old.epoll, [{ tfd: 3, events: 0x1d, data: 0xffffffffffffffffn, pos: null, inode: null, sdev: null }]);
  const bpf = parseFdinfo('pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1\nmap_type:\t1\nkey_size:\t4\n');
  assert.deepEqual(bpf.other, { map_type: '1', key_size: '4' });
  assert.equal(parseFdinfo('pos:\t0\nflags:\t02\n').epoll, undefined);
  const sem = parseFdinfo('eventfd-count:                0\neventfd-id: 3\neventfd-semaphore: 1\n');
  assert.deepEqual(sem.eventfd, { count: 0n, id: 3, semaphore: true });
});

test('fd links: every kind of target', () => {
  assert.deepEqual(classifyFdLink('socket:[12345]'), { kind: 'socket', inode: 12345n });
  assert.deepEqual(classifyFdLink('net:[4026531833]'), { kind: 'namespace', nsType: 'net', inode: 4026531833n });
  assert.deepEqual(classifyFdLink('anon_inode:[timerfd]'), { kind: 'anon', anonKind: 'timerfd' });
  assert.deepEqual(classifyFdLink('anon_inode:bpf-map'), { kind: 'anon', anonKind: 'bpf-map' });
  assert.deepEqual(classifyFdLink('/dev/pts/0'), { kind: 'path', path: '/dev/pts/0', deleted: false });
  assert.deepEqual(classifyFdLink('weird'), { kind: 'unknown', target: 'weird' });
});

test('/proc/locks: POSIX, OFD, leases and blocked requests', () => {
  const locks = parseLocks(
    '1: POSIX  ADVISORY  READ 1234 08:01:5555 0 99\n' +
      '1: -> POSIX  ADVISORY  WRITE 1300 08:01:5555 0 99\n' +
      '2: OFDLCK ADVISORY  WRITE -1 00:1a:7 100 EOF\n' +
      '3: LEASE  BREAKING  READ 42 fe:00:8 0 EOF\n' +
      '3: -> LEASE  BREAKER   READ 43 <none>:0 0 EOF\n',
  );
  assert.equal(locks.length, 5);
  assert.deepEqual([locks[0]!.kind, locks[0]!.type, locks[0]!.end, locks[0]!.blocked], ['POSIX', 'READ', 99n, false]);
  assert.deepEqual([locks[1]!.blocked, locks[1]!.pid], [true, 1300]);
  assert.deepEqual([locks[2]!.kind, locks[2]!.pid, locks[2]!.devMinor, locks[2]!.start], ['OFDLCK', -1, 0x1a, 100n]);
  assert.deepEqual([locks[3]!.mode, locks[3]!.devMajor], ['BREAKING', 0xfe]);
  assert.deepEqual([locks[4]!.blocked, locks[4]!.mode, locks[4]!.pid, locks[4]!.inode, locks[4]!.devMajor], [true, 'BREAKER', 43, 0n, 0]);
  assert.throws(() => parseLocks('1: what\n'), /unexpected file lock line/);
});
