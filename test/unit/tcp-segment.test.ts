// The TCP segments restore forges to replay a half-closed connection's FINs (src/files/tcp-segment.ts)
// and the sequence arithmetic around them (src/files/tcp-fin.ts). Pure code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TH_ACK, TH_FIN, buildSegment, inetChecksum } from '../../src/files/tcp-segment.js';
import { beforeFins, finsOf, withoutOurFin } from '../../src/files/tcp-fin.js';

const spec = { sport: 40000, dport: 8080, seq: 0xfffffff0, ack: 0x12345678, flags: TH_FIN | TH_ACK, window: 512 };

test('an IPv4 segment: header fields in network order, both checksums verify (sum to 0)', () => {
  const src = Buffer.from([127, 0, 0, 1]);
  const dst = Buffer.from([10, 1, 2, 3]);
  const p = buildSegment({ ...spec, src, dst });
  assert.equal(p.length, 40);
  assert.equal(p[0], 0x45);
  assert.equal(p.readUInt16BE(2), 40);
  assert.equal(inetChecksum(p.subarray(0, 20)), 0);
  assert.deepEqual([p.readUInt16BE(20), p.readUInt16BE(22), p.readUInt32BE(24), p.readUInt32BE(28), p[33], p.readUInt16BE(34)],
    [40000, 8080, 0xfffffff0, 0x12345678, TH_FIN | TH_ACK, 512]);
  const pseudo = Buffer.concat([src, dst, Buffer.from([0, 6, 0, 20])]);
  assert.equal(inetChecksum(pseudo, p.subarray(20)), 0);
  // One flipped bit anywhere in the segment no longer verifies.
  const bad = Buffer.from(p.subarray(20));
  bad[13]! ^= 1;
  assert.notEqual(inetChecksum(pseudo, bad), 0);
});

test('an IPv6 segment: the pseudo-header of RFC 8200 verifies; a window beyond 16 bits is clamped', () => {
  const src = Buffer.alloc(16, 0); src[15] = 1;
  const dst = Buffer.from('fd000000000000000000000000000002', 'hex');
  const p = buildSegment({ ...spec, window: 1 << 20, src, dst });
  assert.equal(p.length, 60);
  assert.equal(p[0]! >> 4, 6);
  assert.equal(p.readUInt16BE(40 + 14), 0xffff);
  const pseudo = Buffer.concat([src, dst, Buffer.from([0, 0, 0, 20, 0, 0, 0, 6])]);
  assert.equal(inetChecksum(pseudo, p.subarray(40)), 0);
});

test('the FINs of each state and the sequence numbers the connection is rebuilt with', () => {
  const [ESTABLISHED, FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK, CLOSING, SYN_SENT, TIME_WAIT] = [1, 4, 5, 8, 9, 11, 2, 6];
  assert.equal(finsOf(SYN_SENT), undefined);
  assert.equal(finsOf(TIME_WAIT), undefined);
  assert.deepEqual(beforeFins(ESTABLISHED, 100, 200), { inqSeq: 100, outqSeq: 200 });
  assert.deepEqual(beforeFins(FIN_WAIT2, 100, 200), { inqSeq: 100, outqSeq: 199 });
  assert.deepEqual(beforeFins(CLOSE_WAIT, 100, 200), { inqSeq: 99, outqSeq: 200 });
  assert.deepEqual(beforeFins(LAST_ACK, 0, 0), { inqSeq: 0xffffffff, outqSeq: 0xffffffff });
  assert.deepEqual(beforeFins(CLOSING, 100, 200), { inqSeq: 99, outqSeq: 199 });
  // Our unacknowledged FIN is no byte of the send queue; nothing to take off when it is acknowledged.
  assert.deepEqual(withoutOurFin(FIN_WAIT1, 11, 11), { outqLen: 10, unsqLen: 10 });
  assert.deepEqual(withoutOurFin(FIN_WAIT2, 0, 0), { outqLen: 0, unsqLen: 0 });
  assert.deepEqual(withoutOurFin(CLOSE_WAIT, 5, 5), { outqLen: 5, unsqLen: 5 });
});
