// A system tool a test needs (crit, redis-server, python3, a cross compiler). Where it is missing
// the test is skipped, naming the package that brings it; in CI (CI=true) .ci/run installs every
// one of them, so a missing tool there fails the run instead of quietly checking less.

/** The skip reason for a missing tool, or false when it is there; throws under CI=true when it is missing. */
export function toolSkip(what: string, present: boolean, install: string, env: NodeJS.ProcessEnv = process.env): string | false {
  if (present) return false;
  const why = `${what} is not installed (${install})`;
  if (env.CI === 'true') throw new Error(`${why}: CI requires it (.ci/run installs it); a run without it would check less and still pass`);
  return why;
}
