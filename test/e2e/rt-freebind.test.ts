// Sockets bound with IP_FREEBIND / IPV6_FREEBIND to addresses the machine does not have, as
// zdtm's sk-freebind(-false): test/programs/rt-freebind.c binds a UDP socket to 192.0.2.1 and a
// TCP socket to 2001:db8::1, and a UDP socket to 2001:db8::2 whose FREEBIND it clears after the
// bind. Restore sets FREEBIND before bind (IPv6 sockets always, then drop it unless they had it,
// as CRIU does), so all come back bound there with FREEBIND as it was. Edited images: the IPv4
// socket without FREEBIND is refused, naming the address; the IPv6 one fails the check.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));
let d: Dumped;

test('sockets bound to foreign addresses with FREEBIND come back bound there', async () => {
  d = await startAndDump('rt-freebind');
  all.push(d);
  assert.equal(await restoreAndFinish(d), 'PASS');
});

const dropFreebind = (family: number) => (dir: string) => editImage(dir, 'files.img', (es) => {
  for (const f of es) if (f.isk && Number((f.isk as MessageValue).family) === family) delete ((f.isk as MessageValue).ip_opts as MessageValue).freebind;
});

test('edited image: an IPv4 socket without FREEBIND on a foreign address is refused before anything runs', async () => {
  await assert.rejects(restoreAndFinish(d, dropFreebind(2)), /192\.0\.2\.1:\d+ is not an address of this machine/);
});

test('edited image: an IPv6 socket without FREEBIND comes back without it and fails the check', async () => {
  assert.match(await restoreAndFinish(d, dropFreebind(10)), /^FAIL: t6 has FREEBIND 0, want 1/);
});
