// npm run test:arch -- ARCH... : cryo's tests inside a Debian guest of another architecture under
// qemu-system (TCG). Cross-builds the native addon, the restore stub and the C test programs for the
// target, packs them with the compiled JS into an initramfs beside a cached guest base
// (scripts/guest-image.sh), boots it and runs node --test there; prints `N passed, M failed` last.
//
// A target's nodeOptions go into NODE_OPTIONS of every node in its guest (the tests' and the cryo CLI's).
//
//   ARCH       ppc64le | s390x | aarch64 | x86_64, several at once, or --supported (every one with an Arch).
//              x86_64's guest (on an x86_64 host, with the host's own build) is for ia32 tasks, which the
//              host's kernel may not run: without --only or a --tests line it runs the ia32 files
//              (TARGETS.x86_64.files), not the whole suite that npm test runs on the host
//   --kernel K new (trixie's 6.12, default) | old (bookworm's 6.1) | both | new64k (trixie's 6.12 in
//              Debian's -64k flavour: ppc64le with 64 KiB pages like 6.1's, for --cross) | bpo (trixie-backports'
//              6.18: the Debian arm64 kernel with SME, which 6.1 and 6.12 build without)
//   --only F,F test files to run (names as in test/e2e and test/unit, without .test.ts); F:PATTERN runs
//              only the tests of F whose names match the regular expression PATTERN (node --test-name-pattern;
//              no spaces or quotes in it; a pattern that matches no test counts as a failure)
//   --tests FILE  the files per architecture from FILE (CI's .ci/guest-tests): lines `ARCH name name ...`
//              (`#` starts a comment), each name as for --only, or cross:A:B[,C] for a --cross run beside
//              the guest's own; a line with kernel:K runs its files in a boot of kernel K of their own
//              (aarch64 kernel:bpo for SME); a line with via:library runs its round trips through the
//              library instead of the CLI (see below); with --supported, an architecture without a line is left out
//   --list     print the files each guest would run, and stop
//   --cross A:B[,C] a restore across kernels (A, B: new, old, new64k or bpo): a boot of kernel A dumps (test/e2e/
//              rt-vdso-cross, CRYO_CROSS=dump), the files it lists come back over the console as a
//              tar, and a boot of kernel B (then C ...) gets them and restores (CRYO_CROSS=restore); one ARCH.
//              A kernel may be KERNEL+MACHINE, booted on another machine of the target (aarch64: new+lean,
//              a CPU without MTE and PAC and with 128-bit SVE); A:B:FILE runs FILE instead of rt-vdso-cross
//              (aarch64 --cross new:new+lean:rt-aarch64-cross; bpo:bpo+nosme:rt-aarch64-cross-sme; new:new+nobti:rt-aarch64-cross-bti)
//
// What a guest runs: when cryo has an Arch for the target (src/arch/index.ts ARCHES), every e2e and
// unit test file that does not declare itself for other architectures (onlyOn in
// test/helpers/arch-only.ts), with the round trips going through the real `cryo dump` and
// `cryo restore` (CRYO_TEST_CLI=1), or through the library that the CLI calls for the files of a
// via:library line (as x86_64's npm test does: each CLI start costs seconds of TCG, 40% of a guest's
// time); without an Arch only the sys layer's (test/e2e/sys-*, unit/sys-*).
// The tests see CRYO_GUEST=1 (what may change the whole machine, a sysctl, runs only there).
// Env: CRYO_GUEST_JOBS guests at once (default 2), CRYO_GUEST_TIMEOUT seconds per guest (default 2400),
// CRYO_GUEST_TEST_TIMEOUT seconds per test (default 600),
// CRYO_GUEST_SMP / CRYO_GUEST_MEM (2, 2G), CRYO_GUEST_CACHE (see guest-image.sh), CRYO_GUEST_KEEP=1
// keeps build/guest/<arch>-<kernel>/ (payload, console.log) after a pass.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const work = path.join(root, 'build', 'guest');

/** The targets: Debian's name, the cross compiler, Node's process.arch, readelf's machine, qemu. */
const TARGETS = {
  ppc64le: {
    deb: 'ppc64el', triplet: 'powerpc64le-linux-gnu', node: 'ppc64', elf: 'PowerPC64',
    // x-vof=on: QEMU's minimal firmware instead of SLOF (~8 s less); the cap-* only silence TCG warnings.
    qemu: ['qemu-system-ppc64', '-M', 'pseries,x-vof=on,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off', '-cpu', 'POWER9'],
    console: 'hvc0',
  },
  s390x: {
    deb: 's390x', triplet: 's390x-linux-gnu', node: 's390x', elf: 'IBM S/390',
    qemu: ['qemu-system-s390x', '-M', 's390-ccw-virtio', '-cpu', 'max'], console: 'ttysclp0',
    // V8's JIT dies under qemu's s390x TCG (a Deoptimizer check, then SIGILL); the interpreter runs.
    nodeOptions: '--jitless',
  },
  aarch64: {
    deb: 'arm64', triplet: 'aarch64-linux-gnu', node: 'arm64', elf: 'AArch64',
    // pauth-impdef=on: pointer authentication with QEMU's cheap hash instead of QARMA5 (4x faster boot).
    // mte=on: memory tagging (MTE) for rt-aarch64-mte (the machine gets tag storage).
    qemu: ['qemu-system-aarch64', '-M', 'virt,mte=on', '-cpu', 'max,pauth-impdef=on'], console: 'ttyAMA0',
    // KERNEL+lean in a cross run: a smaller CPU (no MTE, no PAC, 128-bit SVE) for rt-aarch64-cross's refusals.
    // KERNEL+nosme: the full machine without SME, for rt-aarch64-cross-sme's refusals (on kernel bpo).
    // KERNEL+nobti: an Armv8.2 CPU (no BTI, and no SVE, PAC or MTE either: QEMU cannot turn BTI off alone).
    machines: {
      lean: ['qemu-system-aarch64', '-M', 'virt', '-cpu', 'max,pauth=off,sve-max-vq=1'],
      nosme: ['qemu-system-aarch64', '-M', 'virt,mte=on', '-cpu', 'max,pauth-impdef=on,sme=off'],
      nobti: ['qemu-system-aarch64', '-M', 'virt', '-cpu', 'neoverse-n1'],
    },
    // V8's JIT crashes under qemu's arm64 TCG once several threads run (rt-threads); the interpreter runs.
    nodeOptions: '--jitless',
  },
  // x86_64's own tests run on the host (npm test); its guest is for ia32 tasks, which the host's kernel
  // (and CI's, a PVM guest) may not run: Debian's amd64 kernel has CONFIG_IA32_EMULATION. `-cpu max`
  // under TCG has xsave with AVX, so the FP frames carry an xsave area beyond the legacy one.
  x86_64: {
    deb: 'amd64', triplet: 'x86_64-linux-gnu', node: 'x64', elf: 'Advanced Micro Devices X86-64',
    qemu: ['qemu-system-x86_64', '-M', 'pc', '-cpu', 'max'], console: 'ttyS0',
    // Said on the command line: a kernel built with IA32_EMULATION_DEFAULT_DISABLED would boot with it off.
    append: 'ia32_emulation=1',
    // The host's own build goes into the guest (no cross compiler): its addon, stub and test programs,
    // the ia32 ones (NAME.ia32) among them.
    hostBuild: true,
    // What it runs without --only or a --tests line: the files of ia32 tasks (the rest is npm test's).
    files: ['rt-ia32', 'inject-batch', 'dump-kill-batch'],
    // Said in the log: the CPU's FP state features the frames and images carry.
    info: "grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\\n' | grep -x -e xsave -e xsaveopt -e xsavec -e xsaves -e avx -e avx2 -e avx512f -e pku -e la57 | tr '\\n' ' '",
  },
};
const KERNELS = { new: 'trixie 6.12', old: 'bookworm 6.1', new64k: 'trixie 6.12 -64k (ppc64le)', bpo: 'trixie-backports 6.18 (aarch64 SME)' };

const log = (msg) => console.error(`[test-arch ${new Date().toISOString().slice(11, 19)}] ${msg}`);
function die(msg) { console.error(`test-arch: ${msg}`); process.exit(2); }

function parseArgs(argv) {
  const o = { arches: [], kernels: ['new'], only: undefined, tests: undefined, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--kernel') {
      const k = argv[++i];
      if (k === 'both') o.kernels = ['new', 'old'];
      else if (k in KERNELS) o.kernels = [k];
      else die(`--kernel takes new, old, both, new64k or bpo, not ${k}`);
    } else if (a === '--cross') o.cross = parseCross(argv[++i] ?? '', '--cross');
    else if (a === '--only') o.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--tests') o.tests = readTestList(argv[++i]);
    else if (a === '--list') o.list = true;
    else if (a === '--supported') o.supported = true;
    else if (a in TARGETS) o.arches.push(a);
    else die(`unknown argument ${a}: give ppc64le, s390x, aarch64 or x86_64 (or --supported), --kernel new|old|both, --only FILES or --tests FILE, --list`);
  }
  return o;
}

/**
 * `A:B[,C...][:FILE]` as { from: A, to: [B, C...], file }, kernels of KERNELS, each optionally
 * KERNEL+MACHINE (a machine of the target's `machines`); FILE: the test file both boots run.
 */
function parseCross(s, where) {
  const [from, to, file, extra] = s.split(':');
  const tos = (to ?? '').split(',');
  if (extra !== undefined || ![from, ...tos].every((k) => (k ?? '').split('+')[0] in KERNELS)) {
    die(`${where}: a cross-kernel run is A:B[,C...][:FILE] with kernels ${Object.keys(KERNELS).join(', ')} (or KERNEL+MACHINE), not ${s}`);
  }
  return { from, to: tos, file: file || CROSS_FILE };
}
const kernelOf = (spec) => spec.split('+')[0];

/**
 * FILE's lines `ARCH name name ...` (names as for --only, cross:A:B, kernel:K, via:library) as
 * { ARCH: { names, crosses, boots, library } }, `library` the file names run through the library.
 */
function readTestList(file) {
  if (!file || !existsSync(file)) die(`--tests: no file ${file ?? '(none given)'}`);
  const out = {};
  for (const [i, raw] of readFileSync(file, 'utf8').split('\n').entries()) {
    const [arch, ...names] = raw.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
    if (!arch) continue;
    if (!(arch in TARGETS)) die(`${file}:${i + 1}: ${arch} is not an architecture the runner knows (${Object.keys(TARGETS).join(', ')})`);
    const e = (out[arch] ??= { names: [], crosses: [], boots: [], library: new Set() });
    const viaLibrary = names.includes('via:library');
    const k = names.find((n) => n.startsWith('kernel:'))?.slice('kernel:'.length);
    if (k !== undefined && !(k in KERNELS)) die(`${file}:${i + 1}: kernel:${k} is not a kernel the runner knows (${Object.keys(KERNELS).join(', ')})`);
    const own = k === undefined ? e.names : (e.boots[e.boots.push({ kernel: k, names: [] }) - 1]).names;
    for (const n of names) {
      if (n.startsWith('cross:')) e.crosses.push(parseCross(n.slice('cross:'.length), `${file}:${i + 1}`));
      else if (n.startsWith('via:')) { if (n !== 'via:library') die(`${file}:${i + 1}: ${n}: the only via: is via:library`); }
      else if (!n.startsWith('kernel:')) {
        own.push(n);
        if (viaLibrary) e.library.add(n.split(':')[0]);
      }
    }
  }
  return out;
}

/** Node arches cryo has an Arch for, from the compiled src/arch/index.js. */
async function archesWithArch() {
  const m = await import(pathToFileURL(path.join(dist, 'src', 'arch', 'index.js')).href);
  return new Set(Object.keys(m.ARCHES));
}

/** The architectures a compiled test file declares it runs on (onlyOn([...])), or undefined for all. */
export function declaredArches(jsText) {
  const m = /^const skip = onlyOn\(\s*\[([^\]]*)\]/m.exec(jsText);
  if (!m) return undefined;
  return [...m[1].matchAll(/['"]([^'"]+)['"]/g)].map((x) => x[1]);
}

/**
 * The compiled test files a guest of `t` runs, relative to dist/, each with its name pattern if `only`
 * gave one and whether its round trips go through the CLI (with an Arch, unless named in `library`).
 */
function testFiles(t, hasArch, only, library = new Set()) {
  // `name` or `name:PATTERN` (node --test-name-pattern for that file alone).
  const wanted = only && new Map(only.map((x) => { const i = x.indexOf(':'); return i < 0 ? [x, undefined] : [x.slice(0, i), x.slice(i + 1)]; }));
  for (const [n, pattern] of wanted ?? []) {
    if (pattern === undefined) continue;
    if (!pattern || /[\s'"]/.test(pattern)) die(`${n}:${pattern}: a name pattern is a regular expression without spaces or quotes`);
    try { new RegExp(pattern); } catch (e) { die(`${n}:${pattern}: ${e.message}`); }
  }
  const files = [];
  for (const dir of ['unit', 'e2e']) {
    for (const f of readdirSync(path.join(dist, 'test', dir)).filter((x) => x.endsWith('.test.js')).sort()) {
      const name = f.slice(0, -'.test.js'.length);
      if (wanted && !wanted.has(name)) continue;
      if (!hasArch && !name.startsWith('sys-')) continue;
      const arches = declaredArches(readFileSync(path.join(dist, 'test', dir, f), 'utf8'));
      if (arches && !arches.includes(t.node)) continue;
      files.push({ file: path.join('test', dir, f), pattern: wanted?.get(name), cli: hasArch && !library.has(name) });
    }
  }
  for (const n of wanted?.keys() ?? []) if (!files.some((f) => path.basename(f.file) === `${n}.test.js`)) die(`${n}: no such test file for the ${t.node} guest (see --list)`);
  return files;
}

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
}

/** Runs `jobs` (functions returning promises) at most `n` at a time. */
async function pool(n, jobs) {
  const out = new Array(jobs.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, jobs.length) }, async () => {
    while (next < jobs.length) { const i = next++; out[i] = await jobs[i](); }
  }));
  return out;
}

/** The host's N-API headers (architecture-neutral). */
function nodeInclude() {
  const c = [path.join(path.dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'];
  const d = c.find((x) => existsSync(path.join(x, 'node_api.h')));
  if (!d) die(`no node_api.h in ${c.join(' or ')}: apt-get install libnode-dev`);
  return d;
}

/** The files of cryo/ in every guest: package.json, the compiled JS, the fixtures. */
function payloadCommon(C) {
  mkdirSync(path.join(C, 'test', 'programs', 'bin'), { recursive: true });
  cpSync(path.join(root, 'package.json'), path.join(C, 'package.json'));
  // Compiled JS only (no maps, no typings): src, test, bench helpers and the CLI bundle.
  cpSync(dist, path.join(C, 'dist'), { recursive: true, filter: (s) => statSync(s).isDirectory() || /\.([mc]?js|json)$/.test(s) });
  // src/ exists so that test/helpers/paths.ts finds the repository root.
  mkdirSync(path.join(C, 'src'), { recursive: true });
  // The tests' own fixtures (small images; test/unit reads them from the repository root).
  cpSync(path.join(root, 'test', 'fixtures'), path.join(C, 'test', 'fixtures'), { recursive: true });
}

/** The host's own build (a target of the host's architecture): build/ without the guests', test/programs/bin. */
function hostPayload(name, t) {
  const W = path.join(work, name);
  const P = path.join(W, 'payload');
  rmSync(W, { recursive: true, force: true });
  const C = path.join(P, 'cryo');
  for (const f of ['build/cryo_sys.node', 'build/cryo-stub']) if (!existsSync(path.join(root, f))) die(`${name}: no ${f}: run npm run build first`);
  // Up to date after npm test; built (the i686 ones too, with gcc-i686-linux-gnu) where not.
  try { run(process.execPath, [path.join(root, 'scripts', 'build-test-programs.mjs')]); } catch (e) { die(`${name}: building the test programs failed:\n${e.stderr || e.message}`); }
  if (!new RegExp(`Machine:\\s*${t.elf}`).test(run('readelf', ['-h', path.join(root, 'build', 'cryo_sys.node')]))) die(`${name}: build/cryo_sys.node is not a ${t.elf} object`);
  payloadCommon(C);
  for (const f of readdirSync(path.join(root, 'build')).filter((x) => x !== path.basename(work))) {
    cpSync(path.join(root, 'build', f), path.join(C, 'build', f), { recursive: true });
  }
  cpSync(path.join(root, 'test', 'programs', 'bin'), path.join(C, 'test', 'programs', 'bin'), { recursive: true });
  const built = readdirSync(path.join(C, 'test', 'programs', 'bin')).length;
  return { P, built, failed: [] };
}

/** Addon, stub, examples and test programs for `t`, in build/guest/<arch>/payload/cryo. */
async function crossBuild(name, t) {
  if (t.hostBuild) {
    if (process.arch !== t.node) die(`${name}: its guest runs the host's own build, and this host is ${process.arch}`);
    return hostPayload(name, t);
  }
  const W = path.join(work, name);
  const stage = path.join(W, 'stage');
  const P = path.join(W, 'payload');
  rmSync(W, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  const cc = `${t.triplet}-gcc`;
  try { run('which', [cc]); } catch { die(`no ${cc}: apt-get install gcc-${t.triplet} libc6-dev-${t.deb}-cross`); }
  for (const d of ['scripts', 'native', 'examples']) if (existsSync(path.join(root, d))) cpSync(path.join(root, d), path.join(stage, d), { recursive: true });
  // The real build script in a staging copy: this checkout's build/ (the host's addon) stays as it is.
  try {
    run(process.execPath, ['scripts/build-native.mjs', '--force'], { cwd: stage, env: { ...process.env, CC: cc, CRYO_NODE_INCLUDE: nodeInclude() } });
  } catch (e) { die(`${name}: cross build of the addon failed:\n${e.stderr || e.message}`); }
  const elf = run('readelf', ['-h', path.join(stage, 'build', 'cryo_sys.node')]);
  if (!new RegExp(`Machine:\\s*${t.elf}`).test(elf)) die(`${name}: build/cryo_sys.node is not a ${t.elf} object`);

  const C = path.join(P, 'cryo');
  payloadCommon(C);
  cpSync(path.join(stage, 'build'), path.join(C, 'build'), { recursive: true });

  const progDir = path.join(root, 'test', 'programs');
  // Programs for this architecture only live in test/programs/<process.arch>/ (e.g. ppc64/), as for the host build.
  const archDir = path.join(progDir, t.node);
  const srcs = [
    ...readdirSync(progDir).filter((f) => f.endsWith('.c')),
    ...(existsSync(archDir) ? readdirSync(archDir).filter((f) => f.endsWith('.c')).map((f) => path.join(t.node, f)) : []),
  ];
  const failed = [];
  await pool(os.cpus().length, srcs.map((f) => () => new Promise((resolve) => {
    const out = path.join(C, 'test', 'programs', 'bin', path.basename(f).slice(0, -2));
    const p = spawn(cc, ['-O2', '-g', '-Wall', '-pthread', '-o', out, path.join(progDir, f)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => { if (code !== 0) failed.push(`${f}: ${err.split('\n').find((l) => /error/.test(l)) ?? `exit ${code}`}`); resolve(); });
  })));
  // A program that does not build for this target (x86 assembly) is named; a test that needs it fails there.
  if (failed.length) log(`${name}: ${failed.length} test program(s) not built for ${t.triplet}:\n  ${failed.join('\n  ')}`);
  return { P, built: srcs.length - failed.length, failed };
}

/** The cross-kernel test file, and the console markers between which a dump boot sends its files. */
const CROSS_FILE = 'rt-vdso-cross';
const CARRY = ['@@CRYO-CARRY-BEGIN@@', '@@CRYO-CARRY-END@@'];

/** One node --test run for the files without a name pattern (one for the CLI's, one for the library's), one per file with one. */
function runs(files) {
  const plain = (cli) => files.filter((f) => !f.pattern && f.cli === cli).map((f) => f.file);
  return [
    ...[true, false].filter((cli) => plain(cli).length).map((cli) => ({ cli, list: plain(cli) })),
    ...files.filter((f) => f.pattern).map((f) => ({ cli: f.cli, pattern: f.pattern, list: [f.file] })),
  ];
}

/**
 * A serial console (x86_64's ttyS0) still holds output when the guest's init powers off: its last
 * lines were lost once, the test summary and the init's @@GUEST-RC@@ with them. The script says the
 * result itself and waits for the UART to drain (the init says it again).
 */
function serialDrain(t) {
  return t.console.startsWith('ttyS') ? 'echo "@@GUEST-RC=$r@@"\nsleep 2\n' : '';
}

function guestScript(t, files, cross) {
  // One test that hangs must not take the whole guest's time with it.
  const testTimeoutMs = Number(process.env.CRYO_GUEST_TEST_TIMEOUT ?? 600) * 1000;
  return `#!/bin/sh
cd /cryo || exit 1
${t.nodeOptions ? `export NODE_OPTIONS='${t.nodeOptions}'\n` : ''}echo "@@CRYO uname=$(uname -m) node=$(node --version) kernel=$(uname -r) files=${files.length}@@"
${t.info ? `echo "@@CRYO cpu: $(${t.info})@@"
` : ''}./build/cryo-stub; s=$?
[ "$s" = 70 ] || { echo "@@CRYO restore stub exited $s, not 70@@"; exit 1; }
${cross === 'restore' ? 'tar xzf /cryo/carry.tgz -C / || echo "@@CRYO no files carried over@@"\n' : ''}t0=$(cut -d' ' -f1 /proc/uptime)
r=0
${runs(files).map(({ cli, pattern, list }) => `echo "@@CRYO-RUN pattern=${pattern ?? ''}@@"
${cross ? `CRYO_CROSS=${cross} ` : ''}CRYO_GUEST=1 CRYO_TEST_CLI=${cli ? 1 : 0} node --test --test-concurrency=1 --test-timeout=${testTimeoutMs} --test-reporter=tap ${pattern ? `--test-name-pattern='${pattern}' ` : ''}${list.map((f) => `dist/${f}`).join(' ')} || r=1
`).join('')}echo "@@CRYO node-test rc=$r seconds=$(awk -v t0=$t0 '{print $1 - t0}' /proc/uptime)@@"
${cross === 'dump' ? `[ -f /tmp/cryo-cross/carry ] && { echo "${CARRY[0]}"; tar czf - $(cat /tmp/cryo-cross/carry) 2>/dev/null | base64; echo "${CARRY[1]}"; }\n` : ''}${serialDrain(t)}exit $r
`;
}

/** DIR's tree as a newc archive at OUT (entries ./..., owned by root). */
function cpioOf(dir, out) {
  execFileSync('sh', ['-c', `cd '${dir}' && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 > '${out}'`]);
}

function imagePart(...args) {
  const out = run('bash', [path.join(root, 'scripts', 'guest-image.sh'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').pop();
}

/** Boots one guest of kernel `kernel` (work files in build/guest/<name>-<label>); resolves with its counts and timings. */
function boot(name, t, kernel, label, kdir, userland, payloadCpios, qemu = t.qemu) {
  const W = path.join(work, `${name}-${label}`);
  mkdirSync(W, { recursive: true });
  const initrd = path.join(W, 'initrd.cpio');
  // Concatenated newc archives: the kernel unpacks them in order, a later file replacing an earlier one.
  const parts = [path.join(userland, 'userland.cpio'), path.join(kdir, 'modules.cpio'), ...payloadCpios];
  writeFileSync(initrd, Buffer.concat(parts.map((p) => readFileSync(p))));
  const timeout = Number(process.env.CRYO_GUEST_TIMEOUT ?? 2400);
  const args = [...qemu.slice(1), '-m', process.env.CRYO_GUEST_MEM ?? '2G', '-smp', process.env.CRYO_GUEST_SMP ?? '2',
    '-nographic', '-vga', 'none', '-nic', 'none', '-no-reboot', '-kernel', path.join(kdir, 'kernel'), '-initrd', initrd,
    '-append', `console=${t.console} panic=-1 quiet${t.append ? ` ${t.append}` : ''}`];
  const consoleLog = path.join(W, 'console.log');
  const logStream = createWriteStream(consoleLog);
  const tag = `${name}/${label}`;
  const t0 = Date.now();
  return new Promise((resolve) => {
    const q = spawn(qemu[0], args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => { log(`${tag}: no end after ${timeout} s, stopping the guest`); q.kill('SIGKILL'); }, timeout * 1000);
    const r = { carry: undefined, tag, pass: 0, fail: 0, skip: 0, rc: undefined, bootMs: undefined, testS: undefined, notOk: [], kernelRelease: '', cpuS: 0 };
    let pattern;
    // qemu's CPU time (user + system), the measure that does not depend on how busy this machine is.
    const sampleCpu = () => {
      try {
        const st = readFileSync(`/proc/${q.pid}/stat`, 'utf8');
        const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
        r.cpuS = (Number(f[11]) + Number(f[12])) / 100;
      } catch { /* ended */ }
    };
    const cpuTimer = setInterval(sampleCpu, 1000);
    let buf = '';
    let depth0 = [];
    let why; // the diagnostic lines of the last `not ok`, while they come
    const onLine = (raw) => {
      const line = raw.replace(/\r$/, '');
      if (line === CARRY[0]) { r.carry = []; return; }
      if (r.carry && !r.carryDone) { if (line === CARRY[1]) r.carryDone = true; else r.carry.push(line); return; }
      logStream.write(`${line}\n`);
      let m;
      if ((m = /@@GUEST-UP uptime=\S+ kernel=(\S+)@@/.exec(line))) { r.bootMs = Date.now() - t0; r.kernelRelease = m[1]; log(`${tag}: up in ${(r.bootMs / 1000).toFixed(1)} s (kernel ${m[1]})`); }
      else if ((m = /^@@CRYO-RUN pattern=(.*)@@$/.exec(line))) pattern = m[1];
      else if ((m = /^# pass (\d+)/.exec(line))) {
        r.pass += Number(m[1]);
        // A name pattern that runs nothing proves nothing: a failure, named.
        if (pattern && Number(m[1]) === 0) { r.fail += 1; r.notOk.push(`name pattern ${pattern} matched no test that passed`); }
      } else if ((m = /^# fail (\d+)/.exec(line))) r.fail += Number(m[1]);
      else if ((m = /^# (skipped|todo) (\d+)/.exec(line))) r.skip += Number(m[2]);
      else if ((m = /@@CRYO node-test rc=\d+ seconds=([\d.]+)@@/.exec(line))) r.testS = Number(m[1]);
      else if ((m = /@@GUEST-RC=(\d+)@@/.exec(line))) r.rc = Number(m[1]);
      else if (/^@@CRYO /.test(line)) log(`${tag}: ${line}`);
      else if ((m = /^(not ok|ok) \d+ - (.*)$/.exec(line))) {
        log(`${tag}: ${m[1]} ${m[2]}`);
        if (m[1] === 'not ok') r.notOk.push(m[2]);
        why = m[1] === 'not ok' ? [] : undefined;
      } else if (why) {
        // The failure's YAML block (error, expected, actual) goes into the summary: CI shows no console log.
        if (/^\s+(\.\.\.|stack:)/.test(line) || why.length >= 12) { if (why.length) r.notOk.push(`${r.notOk.pop()}\n${why.map((w) => `      ${w}`).join('\n')}`); why = undefined; }
        else if (line.trim() && !/^\s+(---|duration_ms|location|type|failureType)/.test(line)) why.push(line.trim());
      }
      depth0 = depth0.slice(-200);
      depth0.push(line);
    };
    const feed = (d) => { buf += d; let i; while ((i = buf.indexOf('\n')) >= 0) { onLine(buf.slice(0, i)); buf = buf.slice(i + 1); } };
    q.stdout.on('data', feed);
    q.stderr.on('data', feed);
    q.on('close', () => {
      clearTimeout(timer);
      clearInterval(cpuTimer);
      if (buf) onLine(buf);
      logStream.end();
      r.totalS = (Date.now() - t0) / 1000;
      r.consoleLog = consoleLog;
      rmSync(initrd, { force: true });
      resolve(r);
    });
  });
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!existsSync(path.join(dist, 'src', 'arch', 'index.js'))) die('no dist/: run npm run build first (npm run test:arch does)');
  const have = await archesWithArch();
  if (o.tests && o.only) die('give --only or --tests, not both');
  if (o.supported) {
    for (const [n, t] of Object.entries(TARGETS)) {
      if (!have.has(t.node) || o.arches.includes(n)) continue;
      if (o.tests && !o.tests[n]) { log(`${n}: has an Arch but no line in the --tests file: left out`); continue; }
      o.arches.push(n);
    }
  }
  if (o.arches.length === 0) {
    // No count line here: this run tested nothing, and says so.
    if (o.supported) { console.log('test-arch: no architecture with an Arch has a line in the --tests file: no guest to run'); return; }
    die('give an architecture: ppc64le, s390x, aarch64 or x86_64');
  }
  const plans = o.arches.map((name) => {
    const t = TARGETS[name];
    const hasArch = have.has(t.node);
    const line = o.tests?.[name];
    if (o.tests && !line) die(`${name}: no line for it in the --tests file`);
    const crosses = o.cross ? [o.cross] : line?.crosses ?? [];
    if (crosses.length && !hasArch) die(`${name}: a cross-kernel run needs an Arch`);
    // --cross alone runs only the cross-kernel boots; a --tests line runs its files and its crosses.
    const files = o.cross ? [] : testFiles(t, hasArch, line ? line.names : o.only ?? t.files, line?.library);
    const boots = o.cross ? [] : (line?.boots ?? []).map((b) => ({ kernel: b.kernel, files: testFiles(t, hasArch, b.names, line.library) }));
    return { name, t, hasArch, files, crosses, boots };
  });
  if (o.cross && plans.length !== 1) die('--cross takes one architecture');
  for (const p of plans) {
    const viaCli = [...p.files, ...p.boots.flatMap((b) => b.files)].filter((f) => f.cli).length;
    log(`${p.name}: ${p.hasArch ? `has an Arch: round trips of ${viaCli} files through the cryo CLI, the others' through the library` : 'no Arch yet: the sys layer only'}; ${p.files.length} test files${p.boots.map((b) => ` + ${b.files.length} on kernel ${b.kernel}`).join('')}${p.crosses.length ? `; cross-kernel ${p.crosses.map((c) => `${c.from}:${c.to.join(',')}`).join(' ')}` : ''}`);
    if (o.list) {
      const how = (f) => `${f.pattern ? ` (tests matching ${f.pattern})` : ''}${p.hasArch && !f.cli ? ' through the library' : ''}`;
      for (const f of p.files) console.log(`${p.name} ${f.file}${how(f)}`);
      for (const b of p.boots) for (const f of b.files) console.log(`${p.name} ${f.file} on kernel ${b.kernel}${how(f)}`);
      for (const c of p.crosses) console.log(`${p.name} ${c.file}: dumped on ${c.from}, restored on ${c.to.join(' and ')}`);
    }
  }
  if (o.list) return;

  const tAll = Date.now();
  // Guest bases first (cached; a first run downloads ~150 MB per architecture), then the cross builds.
  const bases = {};
  for (const p of plans) {
    const tb = Date.now();
    const kernels = new Set([...(p.files.length ? o.kernels : []), ...p.boots.map((b) => b.kernel), ...p.crosses.flatMap((c) => [c.from, ...c.to].map(kernelOf))]);
    bases[p.name] = { userland: imagePart('userland', p.t.deb), kernels: Object.fromEntries([...kernels].map((k) => [k, imagePart('kernel', p.t.deb, k)])) };
    log(`${p.name}: guest base ready in ${((Date.now() - tb) / 1000).toFixed(1)} s`);
  }
  const jobs = [];
  const crossJobs = [];
  for (const p of plans) {
    const tb = Date.now();
    const { P, built } = await crossBuild(p.name, p.t);
    // The payload without its script; each boot adds a small archive with its guest-run.sh (and carried files).
    const payloadCpio = path.join(work, p.name, 'payload.cpio');
    cpioOf(P, payloadCpio);
    log(`${p.name}: ${p.t.hostBuild ? "the host's build" : 'cross build'} (${built} test programs) and payload in ${((Date.now() - tb) / 1000).toFixed(1)} s`);
    const base = bases[p.name];
    const bootWith = (kernel, label, files, cross, carry) => {
      const J = path.join(work, p.name, `job-${label}`);
      mkdirSync(path.join(J, 'cryo'), { recursive: true });
      writeFileSync(path.join(J, 'cryo', 'guest-run.sh'), guestScript(p.t, files, cross), { mode: 0o755 });
      if (carry) writeFileSync(path.join(J, 'cryo', 'carry.tgz'), carry);
      const jobCpio = path.join(work, p.name, `job-${label}.cpio`);
      cpioOf(J, jobCpio);
      const [k, machine] = kernel.split('+');
      if (machine !== undefined && !p.t.machines?.[machine]) die(`${p.name} has no machine ${machine} (${Object.keys(p.t.machines ?? {}).join(', ') || 'none'})`);
      return boot(p.name, p.t, k, label, base.kernels[k], base.userland, [payloadCpio, jobCpio], machine === undefined ? p.t.qemu : p.t.machines[machine]);
    };
    if (p.files.length) for (const k of o.kernels) jobs.push(() => bootWith(k, k, p.files, undefined));
    for (const b of p.boots) jobs.push(() => bootWith(b.kernel, `own-${b.kernel}`, b.files, undefined));
    for (const c of p.crosses) {
      const crossFiles = testFiles(p.t, p.hasArch, [c.file]);
      const id = `${c.from}-to-${c.to.join('-')}`;
      crossJobs.push(async () => {
        const first = await bootWith(c.from, `cross-${id}-dump`, crossFiles, 'dump');
        first.tag += ` (dump for ${c.to.join(', ')})`;
        if (!first.carryDone) return [first];
        const carry = Buffer.from(first.carry.join(''), 'base64');
        log(`${p.name}: ${c.from} -> ${c.to.join(', ')}: carrying ${carry.length} bytes of dumped files`);
        const out = [first];
        for (const k of c.to) {
          const r = await bootWith(k, `cross-${id}-restore-${k}`, crossFiles, 'restore', carry);
          r.tag += ` (restore of ${c.from}'s dump)`;
          out.push(r);
        }
        return out;
      });
    }
  }
  // The cross-kernel boots (short) after the guests' own lists (long), so that the two slots end together.
  jobs.push(...crossJobs);
  const results = (await pool(Number(process.env.CRYO_GUEST_JOBS ?? 2), jobs)).flat();

  let pass = 0, fail = 0, skip = 0;
  console.log('== guest test results ==');
  for (const r of results) {
    // A guest that ended without node's summary (boot failure, timeout, node died) counts as one failure.
    const complete = r.rc !== undefined && (r.pass + r.fail + r.skip > 0);
    const f = r.fail + (complete ? 0 : 1) + (complete && r.rc !== 0 && r.fail === 0 ? 1 : 0);
    pass += r.pass; fail += f; skip += r.skip;
    console.log(`${r.tag} (kernel ${r.kernelRelease || '?'}): ${r.pass} passed, ${f} failed, ${r.skip} skipped; boot ${r.bootMs ? (r.bootMs / 1000).toFixed(1) : '?'} s, tests ${r.testS ?? '?'} s, guest ${r.totalS.toFixed(0)} s (qemu cpu ${r.cpuS.toFixed(0)} s)${complete ? '' : ' (no test summary: see the console log)'}`);
    for (const n of r.notOk) console.log(`  not ok: ${n}`);
    if (f) console.log(`  console log: ${path.relative(process.cwd(), r.consoleLog)}`);
  }
  console.log(`whole run ${((Date.now() - tAll) / 1000).toFixed(0)} s`);
  if (fail === 0 && !process.env.CRYO_GUEST_KEEP) for (const p of plans) rmSync(path.join(work, p.name), { recursive: true, force: true });
  console.log(`${pass} passed, ${fail} failed${skip ? `, ${skip} skipped` : ''}`);
  process.exitCode = fail === 0 ? 0 : 1;
}

await main();
