// Where the built-in example programs are: examples/NAME.c, compiled at install time into
// build/examples/NAME by scripts/build-native.mjs.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DemoError } from './errors.js';

/** The package's root: the first directory upward holding package.json and examples/ (works from dist/). */
export function packageRoot(start = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'examples'))) return dir;
    if (path.dirname(dir) === dir) throw new DemoError(`cannot find cryo's package directory above ${start}`);
  }
}

/** The compiled example `name`; a one-line error saying how to build it when it is missing or stale. */
export function examplePath(name: string, root = packageRoot()): string {
  const bin = path.join(root, 'build', 'examples', name);
  const src = path.join(root, 'examples', `${name}.c`);
  const rebuild = `run \`node ${path.join(root, 'scripts', 'build-native.mjs')}\` (needs a C compiler)`;
  if (!existsSync(bin)) throw new DemoError(`the example program ${path.relative(root, bin)} is not built: ${rebuild}`);
  if (existsSync(src) && statSync(src).mtimeMs > statSync(bin).mtimeMs) {
    throw new DemoError(`the example program ${path.relative(root, bin)} is older than ${path.relative(root, src)}: ${rebuild}`);
  }
  return bin;
}
