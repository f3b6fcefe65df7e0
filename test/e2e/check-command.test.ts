// `cryo check` on this machine: the features cryo relies on are reported ok, soft-dirty as the
// machine really has it (found here independently, from this test's own pagemap).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { hostArch } from '../../src/arch/index.js';
import { check } from '../../src/index.js';
import { addressOf } from '../../src/sys/index.js';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

async function runCheck(): Promise<{ code: number; lines: string[] }> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'check'], { timeout: 30_000 });
    return { code: 0, lines: stdout.trimEnd().split('\n') };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    if (typeof err.code !== 'number') throw e;
    return { code: err.code, lines: (err.stdout ?? '').trimEnd().split('\n') };
  }
}

/** name -> 'ok' | 'missing' from the report's lines. */
function verdicts(lines: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of lines) {
    const m = /^(.+?): (ok|missing)(?: \(.*\))?$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** Bit 55 of /proc/self/pagemap for a page this process just wrote: set when soft-dirty exists. */
async function softDirtyHere(): Promise<boolean> {
  const pageSize = (await hostArch()).pageSize;
  const buf = Buffer.alloc(pageSize * 2);
  buf.fill(7);
  const page = BigInt(pageSize);
  const start = ((addressOf(buf) + page - 1n) / page) * page;
  const fd = openSync('/proc/self/pagemap', 'r');
  const entry = Buffer.alloc(8);
  try {
    assert.equal(readSync(fd, entry, 0, 8, Number((start / page) * 8n)), 8);
  } finally {
    closeSync(fd);
  }
  buf.fill(0);
  const e = entry.readBigUInt64LE(0);
  assert.equal((e >> 63n) & 1n, 1n, 'the page just written is present');
  return ((e >> 55n) & 1n) === 1n;
}

test('cryo check reports what this machine offers, one line each, and exits by what is required', async () => {
  const { code, lines } = await runCheck();
  const v = verdicts(lines);
  for (const name of ['ptrace', 'clone3 set_tid', 'process_vm_readv/writev', 'ptrace GETSIGMASK/PEEKSIGINFO', '/proc/PID/pagemap']) {
    assert.equal(v.get(name), 'ok', `${name}: ${lines.find((l) => l.startsWith(`${name}:`))}`);
  }
  assert.equal(v.get('soft-dirty'), (await softDirtyHere()) ? 'ok' : 'missing');
  // Every line but the summary is a verdict; the summary agrees with the exit status.
  assert.equal(v.size, lines.length - 1);
  const summary = lines[lines.length - 1]!;
  assert.equal(code === 0, summary.startsWith('Looks good'), summary);
  assert.ok(code === 0 || code === 1);
});

test('check() gives the same verdicts as the command, and marks what is required', async () => {
  const results = await check();
  const names = results.map((r) => r.name);
  assert.equal(new Set(names).size, names.length, 'names are unique');
  const byName = new Map(results.map((r) => [r.name, r]));
  assert.equal(byName.get('ptrace')?.required, true);
  assert.equal(byName.get('clone3 set_tid')?.ok, true);
  assert.equal(byName.get('soft-dirty')?.required, false);
  assert.equal(byName.get('soft-dirty')?.ok, await softDirtyHere());
  // Soft-dirty where the kernel has it, else uffd-wp, else missing: never ok without one of them.
  const tracking = byName.get('pre-dump write tracking');
  assert.equal(tracking?.required, false);
  if (tracking?.ok) assert.match(tracking.detail ?? '', (await softDirtyHere()) ? /UFFD_FEATURE_WP_ASYNC|soft-dirty/ : /UFFD_FEATURE_WP_ASYNC/);
  else assert.equal(byName.get('soft-dirty')?.ok, false);
  for (const r of results.filter((x) => !x.ok)) assert.ok(r.meaning, `${r.name} says what its absence means`);
});
