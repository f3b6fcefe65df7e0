// The `cryo` executable (the modules' form; the package's bin is the bundle, scripts/bundle.mjs).

import { main } from './cli.js';

// No top-level await: the bundle is a CommonJS script.
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
