// The io_uring fdinfo parser, on text as kernel 6.18 prints it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIoUringFdinfo } from '../../src/proc/io-uring-fdinfo.js';

const text = `pos:\t0
flags:\t02000002
mnt_id:\t17
ino:\t1598601
SqMask:\t0x7
SqHead:\t20
SqTail:\t21
CachedSqHead:\t20
CqMask:\t0xf
CqHead:\t19
CqTail:\t20
CachedCqTail:\t20
SQEs:\t1
    0: opcode:NOP, fd:0, flags:0, off:0, addr:0x0, rw_flags:0x0, buf_index:0 user_data:48879
CQEs:\t1
    3: user_data:12648430, res:0, flag:0
SqThread:\t1234
SqThreadCpu:\t1
SqTotalTime:\t0
SqWorkTime:\t0
UserFiles:\t3
    0: pipe:[1598602]
    2: pipe:[1598602]
UserBufs:\t2
    0: 0x55e6c08be080/8192
    1: 0x0/0
Personalities:
    1
\tUid:\t0\t\t0\t\t0\t\t0
\tGid:\t0\t\t0\t\t0\t\t0
\tGroups:\t0
\tCapEff:\t000001ffffffffff
PollList:
  op=22, task_works=0
CqOverflowList:
  user_data=5, res=0, flags=0
NAPI:\tdisabled
`;

test('parses indexes, sizes, SQPOLL, registered files and buffers, personalities, polls and overflow', () => {
  const f = parseIoUringFdinfo(text);
  assert.deepEqual([f.sqEntries, f.cqEntries, f.sqHead, f.sqTail, f.cachedSqHead, f.cqHead, f.cqTail, f.cachedCqTail], [8, 16, 20, 21, 20, 19, 20, 20]);
  assert.equal(f.sqThread, 1234);
  assert.equal(f.sqThreadCpu, 1);
  assert.equal(f.userFiles, 3);
  assert.deepEqual([...f.files.keys()], [0, 2]);
  assert.equal(f.userBufs, 2);
  assert.deepEqual(f.bufs.get(0), { addr: 0x55e6c08be080n, len: 8192 });
  assert.deepEqual(f.bufs.get(1), { addr: 0n, len: 0 });
  assert.deepEqual(f.personalities, [1]);
  assert.deepEqual(f.pollList, [22]);
  assert.equal(f.overflow, 1);
});

test('a text without the ring lines is refused', () => {
  assert.throws(() => parseIoUringFdinfo('pos:\t0\nflags:\t02\n'), /no SqMask/);
});

test('an empty registered file slot as older kernels show it (<none>) is no file', () => {
  const old = text.replace('    2: pipe:[1598602]', '    1: <none>\n    2: pipe:[1598602]');
  const f = parseIoUringFdinfo(old);
  assert.equal(f.userFiles, 3);
  assert.deepEqual([...f.files.keys()], [0, 2]);
});
