// A real program: Debian's redis-server (its background threads, jemalloc's mappings, its
// epoll loop and pipes), listening on 127.0.0.1 with persistence off. Keys are written over
// RESP, every client is gone, redis is dumped, every thread vanishes, it is restored; the keys
// written before must read back, and new clients must connect and SET/GET. Then the restored
// redis goes through a second round trip with a client kept connected in a MULTI transaction.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { dumpReal, findProgram, freePort, restoreReal, startReal, tcpConnectionsHeld, tcpExchange, waitUntil, type RealProgram } from '../helpers/real-program.js';
import { toolSkip } from '../helpers/required-tool.js';

const REDIS = findProgram('/usr/bin/redis-server', '/usr/local/bin/redis-server');
const skip = toolSkip('redis-server', REDIS !== undefined, 'Debian package redis-server');

/** One RESP command as an array of bulk strings. */
function command(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

type Reply = string | number | null | Reply[] | { error: string };

/** Parses every reply in `text` (what redis sent until it closed the connection after QUIT). */
function parseReplies(text: string): Reply[] {
  let at = 0;
  const line = () => {
    const end = text.indexOf('\r\n', at);
    if (end < 0) throw new Error(`truncated RESP: ${JSON.stringify(text)}`);
    const l = text.slice(at, end);
    at = end + 2;
    return l;
  };
  const one = (): Reply => {
    const l = line();
    const rest = l.slice(1);
    switch (l[0]) {
      case '+': return rest;
      case '-': return { error: rest };
      case ':': return Number(rest);
      case '$': {
        const n = Number(rest);
        if (n < 0) return null;
        const s = Buffer.from(text.slice(at), 'utf8').subarray(0, n).toString('utf8');
        at += s.length + 2;
        return s;
      }
      case '*': {
        const n = Number(rest);
        return n < 0 ? null : Array.from({ length: n }, one);
      }
      default: throw new Error(`bad RESP line ${JSON.stringify(l)}`);
    }
  };
  const out: Reply[] = [];
  while (at < text.length) out.push(one());
  return out;
}

/** Runs the commands on a new connection (then QUIT, so redis closes it) and returns their replies. */
async function redis(port: number, ...cmds: string[][]): Promise<Reply[]> {
  const replies = parseReplies(await tcpExchange(port, [...cmds, ['QUIT']].map((c) => command(...c)).join('')));
  assert.equal(replies.length, cmds.length + 1, `replies: ${JSON.stringify(replies)}`);
  assert.equal(replies.at(-1), 'OK');
  return replies.slice(0, -1);
}

/** UNLINK of a set this big is freed by a bio thread (INFO's lazyfreed_objects counts it; redis 7.0 shows it under memory, later ones under stats): its background threads work. */
async function lazyFreeInBackground(port: number, when: string): Promise<void> {
  const lazyFreed = async () => Number(/lazyfreed_objects:(\d+)/.exec(String((await redis(port, ['INFO', 'all']))[0]))?.[1] ?? NaN);
  const before = await lazyFreed();
  assert.ok(!Number.isNaN(before), 'INFO has lazyfreed_objects');
  assert.equal((await redis(port, ['SADD', 'lazy', ...Array.from({ length: 2000 }, (_, i) => `m${i}`)]))[0], 2000);
  assert.deepEqual(await redis(port, ['UNLINK', 'lazy'], ['EXISTS', 'lazy']), [1, 0]);
  await waitUntil(`a background thread to free the unlinked set (${when})`, 5000, async () => ((await lazyFreed()) > before ? true : undefined));
}

let prog: RealProgram | undefined;
after(() => prog?.cleanup());

test('redis-server: keys written before the dump read back after restore, new clients connect', { timeout: 60_000, skip }, async (t) => {
  const port = await freePort();
  const p = (prog = startReal('redis', [REDIS!, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', '']));
  await waitUntil('redis to answer PING', 10_000, async () => ((await redis(port, ['PING']))[0] === 'PONG' ? true : undefined));

  const big = 'x'.repeat(300_000);
  const keys = Array.from({ length: 2000 }, (_, i) => [`key:${i}`, `value-${i}-${(i * 7919) % 1000}`] as const);
  for (let i = 0; i < keys.length; i += 500) {
    const r = await redis(port, ...keys.slice(i, i + 500).map(([k, v]) => ['SET', k, v]));
    assert.ok(r.every((x) => x === 'OK'));
  }
  assert.deepEqual(await redis(port, ['SET', 'big', big], ['RPUSH', 'list', 'a', 'b', 'c'], ['INCRBY', 'counter', '41'], ['HSET', 'h', 'f', 'v']), ['OK', 3, 41, 1]);
  const info = String((await redis(port, ['INFO', 'server']))[0]);
  t.diagnostic(`${/redis_version:\S+/.exec(info)?.[0] ?? 'redis version unknown'}, ${p.threads().length} threads`);

  await lazyFreeInBackground(port, 'before the dump');

  await waitUntil('redis to close its client connections', 5000, () => (tcpConnectionsHeld(p.pid).length === 0 ? true : undefined));
  const threads = p.threads().length;
  const images = await dumpReal(p);
  await restoreReal(p, images, threads);

  // The data written before the dump.
  const sample = keys.filter((_, i) => i % 97 === 0 || i === keys.length - 1);
  assert.deepEqual(await redis(port, ...sample.map(([k]) => ['GET', k])), sample.map(([, v]) => v));
  assert.deepEqual(await redis(port, ['DBSIZE'], ['STRLEN', 'big'], ['LRANGE', 'list', '0', '-1'], ['HGET', 'h', 'f']),
    [keys.length + 4, big.length, ['a', 'b', 'c'], 'v']);
  assert.equal((await redis(port, ['GET', 'big']))[0], big);
  // New clients: writes, a counter going on, several connections at once.
  assert.deepEqual(await redis(port, ['INCR', 'counter'], ['SET', 'after', 'restore'], ['GET', 'after']), [42, 'OK', 'restore']);
  const many = await Promise.all(Array.from({ length: 8 }, (_, i) => redis(port, ['SET', `c${i}`, String(i)], ['GET', `c${i}`])));
  assert.deepEqual(many, Array.from({ length: 8 }, (_, i) => ['OK', String(i)]));
  await lazyFreeInBackground(port, 'after restore');

  // Again, the restored redis this time, with a client kept connected (through TCP repair) in
  // the middle of a MULTI transaction: its queued commands run on EXEC after restore.
  const client = net.connect({ host: '127.0.0.1', port });
  let got = '';
  let closed = false;
  client.on('data', (x) => { got += x; });
  client.on('close', () => { closed = true; });
  await new Promise((ok, fail) => { client.once('connect', ok); client.once('error', fail); });
  client.write(command('MULTI') + command('INCR', 'counter') + command('SET', 'in-multi', 'yes'));
  await waitUntil('redis to queue the transaction', 5000, () => (got === '+OK\r\n+QUEUED\r\n+QUEUED\r\n' ? true : undefined));
  const images2 = await dumpReal(p, { tcpEstablished: true });
  await restoreReal(p, images2, threads, { tcpEstablished: true });
  got = '';
  client.write(command('EXEC') + command('QUIT'));
  await waitUntil('EXEC and QUIT on the kept connection', 5000, () => (closed ? true : undefined));
  assert.deepEqual(parseReplies(got), [[43, 'OK'], 'OK']);
  assert.deepEqual(await redis(port, ['GET', 'in-multi'], ['GET', keys[1999]![0]]), ['yes', keys[1999]![1]]);
  p.stop();
});
