// Unix sockets come back: test/programs/rt-unix.c (stream, datagram and seqpacket socketpairs with
// data queued both ways, a path listener with an accepted and a pending connection, an abstract
// listener, unconnected seqpacket sockets (one bound), bound datagram sockets (path, abstract, relative and deleted names) with datagrams from a
// connected and an unconnected sender) is
// dumped, restored and checks itself on SIGTERM. An edited queue byte fails its check; a socket
// whose peer is held outside the dump is refused naming that process, and --ext-unix-sk
// reconnects a datagram socket to its outside peer's name.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile, encodeImage } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { dump } from '../../src/dump/index.js';
import { __WALL, kill, waitpid } from '../../src/sys/index.js';
import { becomeSubreaper, editImage, waitGone } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { cleanupDumped, restoreAndFinish, restoreFailingAt, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries;
const fdinfoName = (dir: string) => readdirSync(dir).find((n) => /^fdinfo-\d+\.img$/.test(n))!;
/** The unix_sk_entry of the task's descriptor `fd`. */
function uskOf(dir: string, fd: number): MessageValue {
  const id = entries(dir, fdinfoName(dir)).map((e) => e.value).find((f) => Number(f.fd) === fd)!.id;
  return entries(dir, 'files.img').map((e) => e.value).find((f) => f.id === id)!.usk as MessageValue;
}
const fds = (d: Dumped) => Object.fromEntries(Object.entries(d.target.ready).map(([k, v]) => [k, Number(v)]));
function reap(pid: number): void {
  if (pid <= 0) return;
  try { kill(pid, 9); waitpid(pid, __WALL); } catch { /* gone */ }
}

let d: Dumped;

/** Rewrites sk-queues.img of `dir` through `edit` (entries with their payloads). */
function editQueues(dir: string, edit: (list: { value: MessageValue; extra?: unknown }[]) => void): void {
  const file = path.join(dir, 'sk-queues.img');
  const img = decodeImageFile(file);
  edit(img.entries as { value: MessageValue; extra?: unknown }[]);
  writeFileSync(file, encodeImage(img));
}

test('unix sockets: dumped as CRIU 4.2 writes them, restored connected with their queues, names and flags; the task passes', async () => {
  d = await startAndDump('rt-unix');
  all.push(d);
  const r = fds(d);
  const sa = uskOf(d.images, r.sa!);
  const sb = uskOf(d.images, r.sb!);
  assert.equal(Number(sa.peer), Number(sb.ino));
  assert.equal(Number(sb.peer), Number(sa.ino));
  assert.equal(Number(sa.type), 1);
  assert.equal(Number(sa.state), 1);
  const l = uskOf(d.images, r.l!);
  assert.equal(Number(l.state), 10);
  assert.equal(Buffer.from(l.name as Uint8Array).toString(), `${path.join(d.target.dir, 'listen.sock')}\0`, 'with its NUL, as sock_diag reports it and CRIU stores it');
  assert.equal(Number(uskOf(d.images, r.p!).peer), Number(l.ino), 'the pending connection points at its listener');
  assert.equal(Buffer.from(uskOf(d.images, r.a!).name as Uint8Array)[0], 0, 'abstract name');
  assert.equal(uskOf(d.images, r.qa!).shutdown, 'WRITE');
  const rel = uskOf(d.images, r.r!);
  assert.equal(Buffer.from(rel.name as Uint8Array).toString(), 'rel.sock\0');
  assert.equal(rel.name_dir, d.target.dir, 'a relative name is kept with its directory');
  assert.equal(uskOf(d.images, r.g!).deleted, true, 'a name unlinked while bound');
  assert.equal(uskOf(d.images, r.o!).deleted, true, 'a name whose file another socket holds now');
  assert.notEqual(uskOf(d.images, r.h!).deleted, true);
  for (const fd of [r.m!, r.w!]) assert.deepEqual([Number(uskOf(d.images, fd).type), Number(uskOf(d.images, fd).state)], [5, 7], 'an unconnected seqpacket socket (zdtm sk-unix-unconn-seqpacket)');
  assert.equal(Number((l.file_perms as MessageValue).mode) & 0o7777, 0o711);
  const queues = entries(d.images, 'sk-queues.img');
  const at = (id: unknown) => queues.filter((q) => q.value.id_for === id).map((q) => (q.extra as Buffer).toString());
  assert.deepEqual(at(sb.id).join(''), 'stream-a-to-b-1stream-a-to-b-2');
  assert.deepEqual(at(uskOf(d.images, r.db!).id), ['d1', 'dgram-two', 'third-datagram-3']);
  assert.deepEqual(at(uskOf(d.images, r.d!).id), ['u-to-d-1', 'k-to-d']);

  assert.equal(await restoreAndFinish(d), 'PASS');
});

test("a restore failed at each point around its binds leaves a socket file of the same mode and owner at each name", async () => {
  // The old socket file at a name is parked while the socket is bound there, and comes back if the
  // bind fails: once it was unlinked first, so a failure at the bind left the name gone, and one
  // just after it a new socket file still without the dumped mode. Past a name's bind, the new
  // file (its socket gone with the failed restore) stands in for the old one: the same kind, mode
  // and owner, another inode.
  const sockets = () => readdirSync(d.target.dir).flatMap((f) => {
    const st = statSync(path.join(d.target.dir, f));
    return st.isSocket() ? [`${f} ${st.mode.toString(8)} ${st.uid}/${st.gid}`] : [];
  }).sort().join(', ');
  const trace = path.join(d.target.dir, 'restore-points');
  process.env.CRYO_FAULT_TRACE = trace;
  try {
    assert.equal(await restoreAndFinish(d), 'PASS');
  } finally {
    delete process.env.CRYO_FAULT_TRACE;
  }
  const points = readFileSync(trace, 'utf8').trim().split('\n');
  rmSync(trace);
  const before = sockets(); // the restored ones' files, now stale (their sockets are gone with the task)
  assert.match(before, /listen\.sock 140711 /, 'the listener left its socket file, mode 0711');
  const binds = points.flatMap((l, i) => (/ bind\(\) injected/.test(l) ? [i + 1] : []));
  assert.ok(binds.length >= 3, 'restore binds the names');
  for (let n = binds[0]!; n <= binds.at(-1)! + 3; n++) {
    await restoreFailingAt(d, n);
    assert.ok(waitGone(d.pid), `no process left after point ${n}`);
    assert.equal(sockets(), before, `the socket files after a restore failed at point ${n} (${points[n - 1]})`);
  }
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited images: a changed queued byte, a lost datagram, file mode, socket type and deleted name', async () => {
  const r = fds(d);
  const sb = uskOf(d.images, r.sb!);
  assert.match(await restoreAndFinish(d, (dir) => editQueues(dir, (list) => {
    const q = list.filter((e) => e.value.id_for === sb.id).pop()!;
    const b = Buffer.from(q.extra as Buffer);
    b[b.length - 2] = 0x58; // X
    q.extra = b;
  })), /^FAIL: stream at b got 'stream-a-to-b-1stream-a-to-bX2'/);
  const db = uskOf(d.images, r.db!);
  assert.match(await restoreAndFinish(d, (dir) => editQueues(dir, (list) => {
    list.splice(list.findIndex((e) => e.value.id_for === db.id && (e.extra as Buffer).toString() === 'dgram-two'), 1);
  })), /^FAIL: dgram 2 got 'third-datagram-3', want 'dgram-two'/);
  const edit = (fd: number, fn: (u: MessageValue) => void) => (dir: string) => editImage(dir, 'files.img', (files) => {
    fn(files.find((f) => f.id === uskOf(d.images, fd).id)!.usk as MessageValue);
  });
  assert.match(await restoreAndFinish(d, edit(r.l!, (u) => { (u.file_perms as MessageValue).mode = 0o140755; })), /^FAIL: listen.sock mode 755, want 711/);
  assert.match(await restoreAndFinish(d, edit(r.m!, (u) => { u.type = 1; })), /^FAIL: bound seqpacket: type 1, want 5/);
  // Both sockets at shared.sock taken for deleted: nobody binds the name, the old file left there by the dump stays dead.
  assert.match(await restoreAndFinish(d, edit(r.h!, (u) => { u.deleted = true; })), /^FAIL: sendto \S+shared.sock: Connection refused/);
  // Last: a name bound again stays behind in the directory.
  assert.match(await restoreAndFinish(d, edit(r.g!, (u) => { delete u.deleted; })), /^FAIL: the deleted name \S+gone.sock exists again/);
});

test('a peer held outside the dump: refused naming the process; --ext-unix-sk keeps only a datagram socket to a named peer', async () => {
  becomeSubreaper();
  const t = startTarget('rt-unix', ['outside-stream']);
  const helper = Number(t.ready.helper);
  try {
    const dir = path.join(t.dir, 'images');
    const why = `fd ${t.ready.x} of task ${t.pid} is a unix stream socket \\(socket:\\[\\d+\\]\\) connected to socket:\\[\\d+\\], held by process ${helper} \\(rt-unix\\) as fd \\d+, which is outside the dump`;
    await assert.rejects(dump({ pid: t.pid, dir }), new RegExp(`^DumpError: ${why}: dump that process too, or use --ext-unix-sk$`));
    await assert.rejects(dump({ pid: t.pid, dir, extUnixSk: true }), new RegExp(`^DumpError: ${why}: --ext-unix-sk reconnects only datagram sockets to a named peer`));
    // The refused dumps left the task as it was: its own check passes.
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
    reap(helper);
  }
});

test('--ext-unix-sk: a datagram socket connected to an outside process is reconnected to its name at restore', async () => {
  becomeSubreaper();
  const t = startTarget('rt-unix', ['outside-dgram']);
  const helper = Number(t.ready.helper);
  const extPath = path.join(t.dir, 'ext.sock');
  try {
    const images = path.join(t.dir, 'images');
    await assert.rejects(dump({ pid: t.pid, dir: images }), new RegExp(`held by process ${helper} \\(rt-unix\\) as fd \\d+, which is outside the dump: dump that process too, or use --ext-unix-sk$`));
    await dump({ pid: t.pid, dir: images, extUnixSk: true });
    assert.ok(waitGone(t.pid));
    const ext = entries(images, 'files.img').map((e) => e.value.usk as MessageValue | undefined).find((u) => u && Number(u.uflags) === 1)!;
    assert.equal(Buffer.from(ext.name as Uint8Array).toString(), `${extPath}\0`);
    assert.equal(Number(uskOf(images, Number(t.ready.x)).peer), Number(ext.ino));
    const d2: Dumped = { target: t, pid: t.pid, images, readyLine: readFileSync(t.outFile, 'utf8').split('\n')[0]! };
    assert.equal(await restoreAndFinish(d2), 'PASS');
    const out = path.join(t.dir, 'ext.out');
    for (let i = 0; i < 200 && !existsSync(out); i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(readFileSync(out, 'utf8'), 'after-restore', 'the outside process got the datagram sent after the restore');
    // Without anybody bound at the name any more, restore refuses before starting anything.
    reap(helper);
    rmSync(extPath, { force: true });
    await assert.rejects(restoreAndFinish(d2), new RegExp(`connected to ${extPath} outside the dump \\(--ext-unix-sk\\), and no socket is bound there now`));
  } finally {
    t.cleanup();
    reap(helper);
  }
});
