/** A failure the demo reports as one line (and exit status 1). */
export class DemoError extends Error {
  override name = 'DemoError';
}
