// node scripts/bundle.mjs [DIR]: writes cryo's one-file CLI into DIR (default dist): cryo.cjs, every
// module of the CLI built by esbuild from the TypeScript sources into one script; cryo-cli.cjs, the
// executable that runs it (scripts/cli-loader.cjs; cryo.mjs imports it); and the V8 code cache of cryo.cjs for this
// Node. Node then compiles one file instead of about 350 (the ESM loader's per-file work was most
// of cryo's start), and with the cache not even that. A CommonJS script, unlike an ES module,
// loads Node's built-in modules only when the module that needs them first runs: the modules the
// CLI imports dynamically stay lazy, with their imports. The native addon is still found from the
// bundle's own place (src/sys/native.ts walks up to package.json from import.meta.url).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, chmodSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.resolve(process.argv[2] ?? path.join(root, 'dist'));
const out = path.join(dir, 'cryo.cjs');
const bin = path.join(dir, 'cryo-cli.cjs');
const esmBin = path.join(dir, 'cryo.mjs');

const result = await build({
  entryPoints: [path.join(root, 'src', 'cli', 'main.ts')],
  outfile: out,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // import.meta has no meaning in a script: its url is the bundle's (cli-loader.cjs passes __filename).
  define: { 'import.meta.url': '__cryo_bundle_url' },
  banner: { js: 'var __cryo_bundle_url = require("node:url").pathToFileURL(__filename).href;' },
  minify: false,
  sourcemap: false,
  logLevel: 'warning',
  metafile: true,
});
// cli-loader.cjs reads it as latin1, exact for ASCII (esbuild escapes everything else by default).
if (!/^[\x00-\x7f]*$/.test(readFileSync(out, 'latin1'))) throw new Error(`${out} is not ASCII: esbuild's charset option changed?`);
copyFileSync(path.join(root, 'scripts', 'cli-loader.cjs'), bin);
chmodSync(bin, 0o755);
// The name the CLI had before (scripts and docs use it): the same command, by way of the ES-module loader.
writeFileSync(esmBin, "#!/usr/bin/env node\n// Runs cryo's CLI (cryo-cli.cjs, the package's bin, which starts 9 ms sooner).\nimport './cryo-cli.cjs';\n");
chmodSync(esmBin, 0o755);
// A cache made for the bundle this replaces would be refused anyway; make the new one now.
for (const f of readdirSync(dir)) if (/^cryo-.*\.cache$/.test(f)) rmSync(path.join(dir, f));
const cache = spawnSync(process.execPath, [bin], { env: { ...process.env, CRYO_CODE_CACHE: 'build' }, stdio: 'inherit' });
if (cache.status !== 0) process.exitCode = 1;
const inputs = Object.keys(result.metafile.inputs).length;
const bytes = Object.values(result.metafile.outputs)[0]?.bytes;
console.log(`${path.relative(process.cwd(), out)}: ${inputs} modules, ${bytes} bytes; ${path.relative(process.cwd(), bin)} runs it`);
