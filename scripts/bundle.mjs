// node scripts/bundle.mjs [OUT]: writes OUT (default dist/cryo.mjs), one ES module holding cryo's CLI
// and every module it imports, built by esbuild from the TypeScript sources. Node then compiles one
// file instead of about 250: the ESM loader's per-file work was most of cryo's start. Modules that
// the CLI imports dynamically stay lazy (esbuild runs them on first import()), and the native addon
// is still found from the bundle's own place (src/sys/native.ts walks up to package.json).
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.resolve(process.argv[2] ?? path.join(root, 'dist', 'cryo.mjs'));

const result = await build({
  entryPoints: [path.join(root, 'src', 'cli', 'main.ts')],
  outfile: out,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // The entry's #!/usr/bin/env node line is kept; nothing else is changed.
  minify: false,
  sourcemap: false,
  logLevel: 'warning',
  metafile: true,
});
const inputs = Object.keys(result.metafile.inputs).length;
const bytes = result.metafile.outputs[path.relative(process.cwd(), out)]?.bytes ?? Object.values(result.metafile.outputs)[0]?.bytes;
console.log(`${path.relative(process.cwd(), out)}: ${inputs} modules, ${bytes} bytes`);
