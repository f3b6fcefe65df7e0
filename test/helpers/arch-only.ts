// Tests that hold only on some architectures (their registers, x86's xsave, the fixtures of
// ../shared, dumped on x86_64) say so with onlyOn, the one mechanism both runners honour:
//   a whole file:  `const skip = onlyOn(['x64'], 'fixtures dumped on x86_64');` at the top (column 0),
//                  then `{ skip }` in each of its tests; scripts/test-arch.mjs reads that line and
//                  leaves the file out of a guest of another architecture;
//   one test:      `test(name, { skip: onlyOn(['x64'], 'xsave') }, ...)`: the file runs, the test is skipped.
// Architectures are Node's process.arch names (x64, arm64, ppc64, s390x).

/** node:test's skip value: false on these architectures, the reason elsewhere. */
export function onlyOn(arches: readonly string[], why: string): string | false {
  return arches.includes(process.arch) ? false : `${why}: ${arches.join(', ')} only (this is ${process.arch})`;
}
