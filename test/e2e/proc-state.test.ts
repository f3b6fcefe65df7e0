// Starts test/programs/proc-state, reads its state through every /proc reader and checks each value.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import * as proc from '../../src/proc/index.js';
import { programsBinDir } from '../helpers/paths.js';

let child: ChildProcess;
let pid: number;
let dir: string;
const info: Record<string, string> = {};
const hex = (k: string) => BigInt('0x' + info[k]);
const num = (k: string) => Number(info[k]);

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'cryo-proc-'));
  child = spawn(path.join(programsBinDir, 'proc-state'), [dir], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  pid = child.pid!;
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    if (line === 'READY') break;
    const eq = line.indexOf('=');
    info[line.slice(0, eq)] = line.slice(eq + 1);
  }
  assert.ok('map' in info, 'proc-state did not report its state');
});

after(() => {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('maps, smaps, map_files and pagemap', () => {
  const vmas = proc.readSmaps(pid);
  const at = (addr: bigint) => {
    const v = vmas.find((x) => x.start === addr);
    assert.ok(v, `no VMA at ${addr.toString(16)}`);
    return v;
  };
  const [mapStart, mapEnd] = info.map!.split('-').map((x) => BigInt('0x' + x)) as [bigint, bigint];
  const m = at(mapStart);
  assert.deepEqual([m.end, m.kind, m.read, m.write, m.exec, m.shared], [mapEnd, 'anonymous', true, true, false, false]);
  assert.equal(m.smaps!.rss, 6 * 4096);

  const runs = proc.readPageRuns(pid, mapStart, mapEnd, { chunkPages: 4 }); // small chunks: runs must merge across them
  assert.deepEqual(runs.map((r) => [Number((r.start - mapStart) / 4096n), r.pages]), [[0, 3], [5, 1], [10, 2]]);
  assert.ok(runs.every((r) => r.present && r.exclusive && !r.file && !r.swapped));
  const pages = proc.readPagemapEntries(pid, mapStart, mapEnd);
  const touched = info.touched!.split(',').map(Number);
  assert.deepEqual(pages.map((p, i) => [i, p.present]).filter(([, p]) => p).map(([i]) => i), touched);

  const none = at(hex('none'));
  assert.deepEqual([none.read, none.write, none.exec], [false, false, false]);
  assert.ok(!none.smaps!.vmFlags.includes('rd'));
  const shm = at(hex('shm'));
  assert.deepEqual([shm.kind, shm.shared, shm.deleted], ['dev-zero', true, true]);
  assert.ok(proc.readPageRuns(pid, shm.start, shm.end)[0]!.file, 'shared anonymous pages carry bit 61');

  const thp = at(hex('thp'));
  assert.ok(thp.smaps!.vmFlags.includes('hg'));
  const thpMode = '/sys/kernel/mm/transparent_hugepage/enabled';
  if (existsSync(thpMode) && !readFileSync(thpMode, 'utf8').includes('[never]')) assert.equal(thp.smaps!.thpEligible, true);

  const file = at(hex('filemap'));
  assert.deepEqual([file.kind, file.name, file.deleted, file.shared], ['file', info.file, true, false]);
  assert.deepEqual(proc.readMapFilesLink(pid, file.start, file.end), { path: info.file, deleted: true });
  const memfd = at(hex('memfdmap'));
  assert.deepEqual([memfd.kind, memfd.label, memfd.shared], ['memfd', 'cryo test', true]);
  assert.deepEqual(proc.readMapFilesLink(pid, memfd.start, memfd.end), { path: '/memfd:cryo test', deleted: true });

  const vdso = vmas.find((v) => v.kind === 'vdso')!;
  assert.equal(proc.auxvValue(proc.readAuxv(pid), proc.AT.AT_SYSINFO_EHDR!), vdso.start);
  assert.ok(vmas.some((v) => v.kind === 'vvar'));
  assert.ok(vmas.some((v) => v.kind === 'stack' && v.smaps!.vmFlags.includes('gd')));
  assert.ok(vmas.some((v) => v.kind === 'heap'));
  assert.deepEqual(proc.readMaps(pid).map((v) => v.start), vmas.map((v) => v.start));
});

test('status, stat, comm and signal masks', () => {
  const s = proc.readStatus(pid);
  assert.deepEqual([s.name, s.umask, s.pid, s.tgid, s.ppid, s.threads], ['pr) (x', 0o027, pid, pid, process.pid, 1]);
  assert.equal(s.sigBlk, hex('sigblk'));
  assert.equal(s.sigPnd, hex('sigpnd'));
  assert.equal(s.shdPnd, hex('shdpnd'));
  assert.equal(s.sigCgt, hex('sigcgt'));
  assert.equal(s.sigIgn, hex('sigign'));
  assert.equal(s.state, 'S');
  const self = proc.readStatus('self');
  assert.deepEqual([s.uid, s.capEff, s.capBnd, s.noNewPrivs, s.seccomp], [self.uid, self.capEff, self.capBnd, self.noNewPrivs, self.seccomp]);
  assert.deepEqual(proc.readStatus(pid, pid).sigBlk, s.sigBlk);

  const st = proc.readStat(pid);
  assert.deepEqual([st.pid, st.comm, st.ppid, st.numThreads, st.state, st.exitSignal], [pid, 'pr) (x', process.pid, 1, 'S', 17]);
  const vmas = proc.readMaps(pid);
  const heap = vmas.find((v) => v.kind === 'heap')!;
  assert.ok(st.startBrk >= heap.start && st.startBrk <= heap.end);
  const stack = vmas.find((v) => v.kind === 'stack')!;
  assert.ok(st.startStack >= stack.start && st.startStack < stack.end);
  assert.ok(st.argStart < st.argEnd && st.envStart < st.envEnd);
  assert.equal(st.policy, 0);
  assert.equal(proc.readComm(pid), 'pr) (x');
  assert.equal(proc.readComm(pid, pid), 'pr) (x');
});

test('descriptors: links and fdinfo of each kind', () => {
  const expected = [0, 1, 2, ...['filefd', 'memfd', 'eventfd', 'timerfd', 'signalfd', 'inotify', 'pipe_r', 'pipe_w', 'epoll', 'pidfd'].map(num)];
  assert.deepEqual(proc.listFds(pid), expected.sort((a, b) => a - b));

  const file = proc.readFdinfo(pid, num('filefd'));
  assert.deepEqual(proc.readFdTarget(pid, num('filefd')), { kind: 'path', path: info.file, deleted: true });
  assert.equal(file.flags & 3, 2); // O_RDWR
  assert.equal(file.locks.length, 1);
  assert.deepEqual([file.locks[0]!.kind, file.locks[0]!.type, file.locks[0]!.pid, file.locks[0]!.inode], ['FLOCK', 'WRITE', pid, file.inode]);
  assert.ok(proc.readLocks().some((l) => l.kind === 'FLOCK' && l.pid === pid && l.inode === file.inode));
  const mount = proc.mountsById(proc.readMountinfo(pid)).get(file.mntId);
  assert.ok(mount, `mnt_id ${file.mntId} not in mountinfo`);
  const fileVma = proc.readMaps(pid).find((v) => v.start === hex('filemap'))!;
  assert.deepEqual([mount.devMajor, mount.devMinor], [fileVma.devMajor, fileVma.devMinor]);
  assert.ok(info.file!.startsWith(mount.mountPoint));

  assert.deepEqual(proc.readFdTarget(pid, num('eventfd')), { kind: 'anon', anonKind: 'eventfd' });
  assert.equal(proc.readFdinfo(pid, num('eventfd')).eventfd!.count, BigInt(info.eventfd_count!));

  const tfd = proc.readFdinfo(pid, num('timerfd')).timerfd!;
  assert.deepEqual([tfd.clockId, tfd.interval.sec, tfd.interval.nsec, tfd.ticks], [num('timerfd_clock'), 7n, 0, 0n]);
  assert.ok(tfd.value.sec > 900n && tfd.value.sec <= 1000n);

  assert.deepEqual(proc.readFdinfo(pid, num('signalfd')).signalfd, { sigmask: hex('signalfd_mask') });

  const watches = proc.readFdinfo(pid, num('inotify')).inotify!;
  assert.equal(watches.length, 1);
  assert.deepEqual([watches[0]!.wd, watches[0]!.mask, watches[0]!.inode], [num('inotify_wd'), parseInt(info.inotify_mask!, 16), hex('inotify_ino')]);

  for (const k of ['pipe_r', 'pipe_w']) assert.deepEqual(proc.readFdTarget(pid, num(k)), { kind: 'pipe', inode: BigInt(info.pipe_ino!) });
  assert.equal(proc.readFdinfo(pid, num('pipe_w')).flags & 3, 1);

  const ep = proc.readFdinfo(pid, num('epoll')).epoll!;
  // The kernel always adds EPOLLERR (8) and EPOLLHUP (0x10) to the EPOLLIN (1) the program asked for.
  assert.deepEqual(ep.map((t) => [t.tfd, t.events, t.data]), [[num('eventfd'), 0x19, 0x1234n]]);

  assert.deepEqual(proc.readFdinfo(pid, num('pidfd')).pidfd, { pid, nsPid: [pid] });
});

test('POSIX timers, tasks, links, namespaces, cgroups and small files', () => {
  const timers = proc.readTimers(pid);
  assert.equal(timers.length, 1);
  assert.deepEqual(
    [timers[0]!.id, timers[0]!.signal, timers[0]!.sigval, timers[0]!.notify, timers[0]!.threadId, timers[0]!.target, timers[0]!.clockId],
    [num('posix_timer_id'), num('posix_timer_signal'), 0xabcn, 'signal', false, pid, 0],
  );
  assert.deepEqual(proc.readTaskIds(pid), [pid]);
  assert.deepEqual(proc.readChildren(pid, pid), []);
  assert.ok(proc.readChildren('self', process.pid).includes(pid));
  assert.deepEqual(proc.readCwd(pid), { path: dir, deleted: false });
  assert.deepEqual(proc.readRoot(pid), { path: '/', deleted: false });
  assert.deepEqual(proc.readExe(pid), { path: path.join(programsBinDir, 'proc-state'), deleted: false });
  assert.deepEqual(proc.readCmdline(pid), [path.join(programsBinDir, 'proc-state'), dir]);
  assert.ok(proc.readEnviron(pid).length > 0);
  assert.equal(proc.readPersonality(pid), proc.readPersonality('self'));
  assert.equal(proc.readTimerslackNs(pid), proc.readTimerslackNs('self'));
  assert.equal(proc.readLoginuid(pid), proc.readLoginuid('self'));
  assert.equal(proc.readOomScoreAdj(pid), proc.readOomScoreAdj('self'));
  assert.deepEqual(proc.readNamespaces(pid), proc.readNamespaces('self'));
  assert.ok('mnt' in proc.readNamespaces(pid));
  assert.deepEqual(proc.readCgroup(pid), proc.readCgroup('self'));
  assert.deepEqual(proc.readLimits(pid), proc.readLimits('self'));
  assert.equal(proc.readSched(pid).policy, '0');
});

test('SIGTERM: exits 0, then readers say the process is gone', async () => {
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.throws(() => proc.readMaps(pid), (e: unknown) => {
    assert.ok(e instanceof proc.ProcReadError);
    assert.equal(e.message, `cannot read /proc/${pid}/maps: the process is gone (ENOENT)`);
    return e.gone;
  });
});
