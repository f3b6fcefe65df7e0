// One error type for everything that can be wrong with an image file, so the
// CLI can print it as one line and callers can catch it without guessing.

export class ImageError extends Error {
  /** The image file (or '<stdin>', '<buffer>') the problem is in. */
  readonly file: string;
  /** Byte offset in that file where the problem was found. */
  readonly offset: number;
  /** What the reader expected to find there. */
  readonly expected: string;

  constructor(file: string, offset: number, expected: string) {
    super(`${file}: at byte ${offset}: expected ${expected}`);
    this.name = 'ImageError';
    this.file = file;
    this.offset = offset;
    this.expected = expected;
  }
}

/** A problem with a JSON document given to encode (no byte offset in an image). */
export class ImageJsonError extends Error {
  constructor(readonly file: string, readonly where: string, readonly problem: string) {
    super(`${file}: ${where}: ${problem}`);
    this.name = 'ImageJsonError';
  }

  /** The same error, naming the document it came from. */
  withFile(file: string): ImageJsonError {
    return new ImageJsonError(file, this.where, this.problem);
  }
}
