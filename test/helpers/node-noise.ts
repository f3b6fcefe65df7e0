// What Node itself writes on a child's stderr before any of cryo's code runs, which is not cryo's
// output: V8's note that --jitless (NODE_OPTIONS in the s390x guest, where the JIT dies under TCG)
// turns --expose-wasm off. It cannot be quieted there (--no-expose-wasm is not allowed in
// NODE_OPTIONS), so the tests that read the command line's stderr leave it out.

const V8_FLAG_NOTE = /^Warning: disabling flag --\w+ due to conflicting flags\n/gm;

/** `stderr` of a node child without V8's flag notes. */
export function withoutNodeNoise(stderr: string | Buffer): string {
  return stderr.toString().replace(V8_FLAG_NOTE, '');
}
