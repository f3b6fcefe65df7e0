/*
 * BLAKE3-256 for cryo's addon (included by cryo_digest.c): the official C implementation of
 * BLAKE3, whose sources Debian ships in librust-blake3-dev; scripts/build-native.mjs finds them
 * and compiles them beside cryo_sys.c with the SIMD kernels the target has (SSE2 to AVX-512 on
 * x86_64, chosen at run time by its dispatcher; NEON on aarch64; portable C elsewhere).
 */
#include "blake3.h"

/* One input, one 32-byte digest. Long inputs are what BLAKE3's SIMD wants: it hashes up to 16
 * of the input's 1 KiB chunks at once (AVX-512), so callers give whole pieces (up to 4 MiB). */
static unsigned char *blake3_256(const unsigned char *data, size_t len, unsigned char *md) {
  blake3_hasher h;
  blake3_hasher_init(&h);
  blake3_hasher_update(&h, data, len);
  blake3_hasher_finalize(&h, md, BLAKE3_OUT_LEN);
  return md;
}
