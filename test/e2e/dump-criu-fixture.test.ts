// cryo's dump holds what CRIU 4.2's dump of the same kind of process holds (so that CRIU can
// restore it): test/programs/criu-single.c has the state of the CRIU 4.2 "single" fixture, and
// cryo's images of it are compared with the fixture's (fixtures/criu-4.2/single.json, CRIU's
// own crit): the same image files, and in each image the same fields, except the xsave
// components, which depend on the CPU (checked here against what CRIU writes on this CPU).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { dump } from '../../src/dump/index.js';
import { cpuHasShadowStack } from '../../src/arch/x86_64/thread-extras.js';
import { kernelDev } from '../../src/dump/files.js';
import { decodeImageFile, imageToCrit, type JsonValue } from '../../src/images/index.js';
import { hostCpuid } from '../../src/sys/index.js';
import { fixturesDir } from '../helpers/paths.js';
import { startTarget, type Target } from '../helpers/dump-target.js';
import { onlyOn } from '../helpers/arch-only.js';

const skip = onlyOn(['x64'], 'fixtures dumped on x86_64');

const FIXTURE_PID = '18187';
const fixtureJson = path.join(fixturesDir, 'single.json');
/**
 * Fields left out of the comparison: the xsave components follow the CPU rather than the process,
 * and stats-dump's page_pipes/page_pipe_bufs count CRIU's own page pipes (cryo reads pages with
 * process_vm_readv and has none; only `criu` statistics read them).
 */
const NOT_COMPARED = /^\.entries\[\]\.(thread_info\.fpregs\.xsave\.[a-z0-9_]+|dump\.page_pipe(_bufs|s)$)/;

let t: Target;
let dir: string;
before(async () => {
  t = startTarget('criu-single');
  dir = path.join(t.dir, 'img');
  await dump({ pid: t.pid, dir });
});
after(() => t?.cleanup());

/** Every field path in a crit JSON document, array indexes folded into []. */
function fieldPaths(v: JsonValue, at = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) {
    for (const x of v) fieldPaths(x, `${at}[]`, out);
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.add(`${at}.${k}`);
      fieldPaths(x, `${at}.${k}`, out);
    }
  }
  return out;
}

const cryoCrit = (file: string, pretty = true): JsonValue => imageToCrit(decodeImageFile(path.join(dir, file)), pretty);
const fixtureCrit = (file: string): JsonValue => JSON.parse(readFileSync(path.join(fixtureJson, `${file}.json`), 'utf8')) as JsonValue;
const asFixtureName = (f: string) => f.replace(`-${t.pid}.img`, `-${FIXTURE_PID}.img`);

// One deliberate difference: no timens-0.img. CRIU restores the clocks it holds into a new time
// namespace; cryo's restore keeps the host's clocks, and without the image CRIU does the same.
test('the image files are those of CRIU 4.2\'s dump of the fixture (plus cryo\'s own cryo-files.img, without timens-0.img)', { skip }, () => {
  const mine = readdirSync(dir).filter((f) => !f.startsWith('cryo-')).map(asFixtureName).sort();
  const criu = readdirSync(path.join(fixturesDir, 'single')).filter((f) => f !== 'timens-0.img').sort();
  assert.deepEqual(mine, criu);
});

test('each image has the fields CRIU 4.2 writes for the fixture, no more and no fewer', { skip }, () => {
  for (const file of readdirSync(dir)) {
    if (file.startsWith('pages-') || file.startsWith('cryo-')) continue;
    const want = [...fieldPaths(fixtureCrit(asFixtureName(file)))].filter((p) => !NOT_COMPARED.test(p)).sort();
    const got = [...fieldPaths(cryoCrit(file))].filter((p) => !NOT_COMPARED.test(p)).sort();
    assert.deepEqual(got, want, file);
  }
});

test('xsave.cet is written exactly where CRIU writes it: on CPUs with shadow stacks', { skip }, () => {
  const core = cryoCrit(`core-${t.pid}.img`) as { entries: { thread_info: { fpregs: { xsave: Record<string, unknown> } } }[] };
  const xsave = core.entries[0]!.thread_info.fpregs.xsave;
  assert.equal('cet' in xsave, cpuHasShadowStack(hostCpuid()), `cet: ${JSON.stringify(xsave.cet)}`);
  // The fixture was dumped on a CPU with shadow stacks and has it, with shadow stacks off.
  const fx = fixtureCrit(`core-${FIXTURE_PID}.img`) as typeof core;
  assert.deepEqual(fx.entries[0]!.thread_info.fpregs.xsave.cet, { cet: '0x0', ssp: '0x0' });
});

test('the process carries on and passes its own check after the dump (left running)', { skip }, async () => {
  // A second dump of a fresh process, left running: the images above must not cost it anything.
  const t2 = startTarget('criu-single');
  try {
    await dump({ pid: t2.pid, dir: path.join(t2.dir, 'img'), leaveRunning: true });
    assert.equal(t2.finish(), 'PASS');
  } finally {
    t2.cleanup();
  }
});

test('cpuHasShadowStack reads CPUID leaf 7 ECX bit 7 (CET_SS)', { skip }, () => {
  const cpu = (max: number, ecx7: number) => ({
    cpuid: (leaf: number) => (leaf === 0 ? { eax: max, ebx: 0, ecx: 0, edx: 0 } : { eax: 0, ebx: 0, ecx: ecx7, edx: 0 }),
  });
  assert.equal(cpuHasShadowStack(cpu(0xd, 1 << 7)), true);
  assert.equal(cpuHasShadowStack(cpu(0xd, ~(1 << 7))), false);
  assert.equal(cpuHasShadowStack(cpu(6, 1 << 7)), false, 'no leaf 7');
  assert.equal(cpuHasShadowStack(undefined), false);
});

test('device numbers of ghost files are in the kernel\'s encoding, as CRIU writes them (crit shows major:minor)', { skip }, async () => {
  // Ground truth from the fixtures: fdkinds' inotify watch is on device 254:0 (README), and CRIU
  // wrote its s_dev (a (criu).dev field like ghost_file_entry.dev) as this number.
  const files = readFileSync(path.join(fixturesDir, 'fdkinds.plain.json', 'files.img.json'), 'utf8');
  const sdev = files.match(/"s_dev": ?(\d+)/)?.[1];
  assert.ok(sdev, 'the fixture has an s_dev');
  assert.equal(kernelDev((254n << 8n) | 0n), Number(sdev)); // makedev(254, 0) as stat() reports it
  // Large numbers: makedev(259, 0x12345) spreads major and minor over both halves of st_dev.
  assert.equal(kernelDev((0x45n) | (259n << 8n) | (0x123n << 20n)), ((259 << 20) | 0x12345) >>> 0);
  // A real ghost file (dump-state unlinks one while open): crit shows its directory's device.
  const g = startTarget('dump-state');
  try {
    const gdir = path.join(g.dir, 'img');
    await dump({ pid: g.pid, dir: gdir });
    const st = statSync(g.dir, { bigint: true });
    const major = Number(((st.dev >> 8n) & 0xfffn) | ((st.dev >> 32n) & ~0xfffn));
    const minor = Number((st.dev & 0xffn) | ((st.dev >> 12n) & ~0xffn));
    const ghost = imageToCrit(decodeImageFile(path.join(gdir, 'ghost-file-1.img')), true) as { entries: { dev: string }[] };
    assert.equal(ghost.entries[0]!.dev, `${major}:${minor}`);
  } finally {
    g.cleanup();
  }
});
