/*
 * Digests of consecutive pieces of a file (cryo-manifest.img) for cryo's addon: included by
 * cryo_sys.c (one translation unit; scripts/build-native.mjs compiles that file with BLAKE3's
 * sources), which supplies CHECK, throw_errno and the headers. Two algorithms, each named by the
 * manifest: BLAKE3-256 (what a dump writes) and SHA-256 (what manifests before it hold), the
 * latter by Node's own OpenSSL found at run time.
 */

/* A one-shot hash: `len` bytes at `data` -> 32 bytes at `md`. */
typedef unsigned char *(*digest_fn)(const unsigned char *data, size_t len, unsigned char *md);

/* The algorithms' numbers, as src/sys/native.ts names them. */
enum { DIGEST_SHA256 = 0, DIGEST_BLAKE3 = 1 };

#include "cryo_blake3.c" /* blake3_256 */

/* Bytes read from the file at a time (a piece longer than this gets a buffer of its own size). */
#define SHA_READ_BYTES (4u << 20)

/* OpenSSL's one-shot SHA256(), as the node binary (or the libcrypto it links) exports it; NULL where none does. */
static digest_fn find_sha256(void) {
  static digest_fn sha256;
  static int looked;
  if (!looked) {
    sha256 = (digest_fn)dlsym(RTLD_DEFAULT, "SHA256");
    looked = 1;
  }
  return sha256;
}

/* The function of algorithm `alg`, or NULL (an unknown number, or SHA-256 in a process without SHA256()). */
static digest_fn find_digest(int32_t alg) {
  return alg == DIGEST_BLAKE3 ? blake3_256 : alg == DIGEST_SHA256 ? find_sha256() : NULL;
}

/* Reads up to `want` bytes at `at` (fewer only where the file ends); *got: how many. 0 or an errno. */
static int read_all(int fd, unsigned char *buf, size_t want, off_t at, size_t *got) {
  *got = 0;
  while (*got < want) {
    ssize_t r = pread(fd, buf + *got, want - *got, at + (off_t)*got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) break;
    *got += (size_t)r;
  }
  return 0;
}

/* Hashes n pieces lying back to back from `at`; *done: how many (fewer when the file ends first). 0 or an errno. */
static int hash_pieces(digest_fn digest, int fd, off_t at, const uint32_t *len, size_t n, unsigned char *out, size_t *done_out) {
  size_t size = SHA_READ_BYTES;
  for (size_t i = 0; i < n; i++) if (len[i] > size) size = len[i];
  unsigned char *buf = malloc(size);
  if (!buf) return ENOMEM;
  size_t done = 0;
  int err = 0;
  while (done < n) {
    /* As many whole pieces as the buffer holds (at least one). */
    size_t want = 0, end = done;
    while (end < n && want + len[end] <= size) want += len[end++];
    size_t got = 0;
    if ((err = read_all(fd, buf, want, at, &got))) break;
    size_t used = 0;
    for (; done < end && used + len[done] <= got; used += len[done], done++) digest(buf + used, len[done], out + done * 32);
    if (got < want) break;
    at += (off_t)want;
  }
  free(buf);
  *done_out = done;
  return err;
}

/* The arguments both forms take: (algorithm, fd, offset, Uint32Array of lengths, Buffer of 32 bytes per length). */
static int pieces_args(napi_env env, napi_value *argv, size_t argc, int32_t *alg, int32_t *fd, int64_t *offset, uint32_t **len, size_t *n, unsigned char **out) {
  napi_typedarray_type type;
  size_t outLen;
  void *lens, *o;
  if (argc < 5 || napi_get_value_int32(env, argv[0], alg) != napi_ok || napi_get_value_int32(env, argv[1], fd) != napi_ok ||
      napi_get_value_int64(env, argv[2], offset) != napi_ok ||
      napi_get_typedarray_info(env, argv[3], &type, n, &lens, NULL, NULL) != napi_ok || type != napi_uint32_array ||
      napi_get_buffer_info(env, argv[4], &o, &outLen) != napi_ok || outLen < *n * 32) {
    napi_throw_type_error(env, NULL, "digestPieces needs (algorithm, fd, offset, Uint32Array of lengths, Buffer of 32 bytes per length)");
    return 0;
  }
  *len = lens;
  *out = o;
  return 1;
}

/*
 * digestPieces(algorithm, fd, offset, lengths: Uint32Array, out: Buffer of 32 * lengths.length
 * bytes): the pieces lie back to back from byte `offset`; their digests go to `out` in order.
 * Returns how many pieces were hashed (fewer when the file ends first), or -1 when the process
 * cannot compute that algorithm (SHA-256 without SHA256()).
 */
static napi_value js_digest_pieces(napi_env env, napi_callback_info info) {
  size_t argc = 5, n, done;
  napi_value argv[5], res;
  int32_t alg, fd;
  int64_t offset;
  uint32_t *len;
  unsigned char *out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!pieces_args(env, argv, argc, &alg, &fd, &offset, &len, &n, &out)) return NULL;
  digest_fn digest = find_digest(alg);
  if (!digest) {
    CHECK(napi_create_int32(env, -1, &res));
    return res;
  }
  int err = hash_pieces(digest, fd, (off_t)offset, len, n, out, &done);
  if (err) return throw_errno(env, err, err == ENOMEM ? "malloc" : "pread");
  CHECK(napi_create_int64(env, (int64_t)done, &res));
  return res;
}

/* One digestPiecesAsync call: hashed on libuv's thread pool (no JavaScript thread to start). */
struct digest_job {
  napi_async_work work;
  napi_ref out_ref, cb_ref;
  digest_fn digest;
  int fd, err;
  off_t offset;
  uint32_t *len;
  size_t n, done;
  unsigned char *out;
};

static void digest_job_execute(napi_env env, void *data) {
  (void)env;
  struct digest_job *job = data;
  job->err = hash_pieces(job->digest, job->fd, job->offset, job->len, job->n, job->out, &job->done);
}

static void digest_job_complete(napi_env env, napi_status status, void *data) {
  struct digest_job *job = data;
  napi_value cb, undef, args[2];
  if (napi_get_reference_value(env, job->cb_ref, &cb) == napi_ok && napi_get_undefined(env, &undef) == napi_ok &&
      napi_create_int32(env, status == napi_ok ? job->err : ECANCELED, &args[0]) == napi_ok &&
      napi_create_int64(env, (int64_t)job->done, &args[1]) == napi_ok) {
    napi_call_function(env, undef, cb, 2, args, NULL);
  }
  napi_delete_reference(env, job->cb_ref);
  napi_delete_reference(env, job->out_ref);
  napi_delete_async_work(env, job->work);
  free(job->len);
  free(job);
}

/*
 * digestPiecesAsync(algorithm, fd, offset, lengths, out, callback(errno, done)): digestPieces on
 * the thread pool; returns -1 (and never calls back) when the process cannot compute that
 * algorithm, else 0. `out` is written until the callback; `fd` must stay open until then.
 */
static napi_value js_digest_pieces_async(napi_env env, napi_callback_info info) {
  size_t argc = 6, n;
  napi_value argv[6], res, name;
  napi_valuetype cbType;
  int32_t alg, fd;
  int64_t offset;
  uint32_t *len;
  unsigned char *out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!pieces_args(env, argv, argc, &alg, &fd, &offset, &len, &n, &out)) return NULL;
  if (argc < 6 || napi_typeof(env, argv[5], &cbType) != napi_ok || cbType != napi_function) {
    napi_throw_type_error(env, NULL, "digestPiecesAsync needs a callback after digestPieces' arguments");
    return NULL;
  }
  digest_fn digest = find_digest(alg);
  if (!digest) {
    CHECK(napi_create_int32(env, -1, &res));
    return res;
  }
  struct digest_job *job = calloc(1, sizeof *job);
  if (!job || !(job->len = malloc(n * sizeof *len + 1))) {
    free(job);
    return throw_errno(env, ENOMEM, "malloc");
  }
  memcpy(job->len, len, n * sizeof *len);
  job->digest = digest;
  job->fd = fd;
  job->offset = (off_t)offset;
  job->n = n;
  job->out = out;
  CHECK(napi_create_reference(env, argv[4], 1, &job->out_ref));
  CHECK(napi_create_reference(env, argv[5], 1, &job->cb_ref));
  CHECK(napi_create_string_utf8(env, "cryo:digest", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, digest_job_execute, digest_job_complete, job, &job->work));
  CHECK(napi_queue_async_work(env, job->work));
  CHECK(napi_create_int32(env, 0, &res));
  return res;
}

/* The bytes of a Buffer or Uint8Array. */
static int buffer_span(napi_env env, napi_value v, void **data, size_t *len) {
  bool is;
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  if (napi_is_buffer(env, v, &is) == napi_ok && is) return napi_get_buffer_info(env, v, data, len) == napi_ok;
  return napi_is_typedarray(env, v, &is) == napi_ok && is && napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) == napi_ok &&
         t == napi_uint8_array;
}

/* digest(algorithm, bytes: Buffer or Uint8Array) -> its 32-byte digest, or undefined when the process cannot compute that algorithm. */
static napi_value js_digest(napi_env env, napi_callback_info info) {
  size_t argc = 2, len;
  napi_value argv[2], res;
  int32_t alg;
  void *data, *md;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_get_value_int32(env, argv[0], &alg) != napi_ok || !buffer_span(env, argv[1], &data, &len)) {
    napi_throw_type_error(env, NULL, "digest needs (algorithm, Buffer or Uint8Array)");
    return NULL;
  }
  digest_fn digest = find_digest(alg);
  if (!digest) {
    CHECK(napi_get_undefined(env, &res));
    return res;
  }
  CHECK(napi_create_buffer(env, 32, &md, &res));
  digest(data ? data : (void *)"", len, md);
  return res;
}

#include "cryo_hasher.c" /* hasherStart and the rest: a hashing thread beside the main one */

#define CRYO_DIGEST_PROPS \
  {"digest", NULL, js_digest, NULL, NULL, NULL, napi_enumerable, NULL}, \
  {"digestPieces", NULL, js_digest_pieces, NULL, NULL, NULL, napi_enumerable, NULL}, \
  {"digestPiecesAsync", NULL, js_digest_pieces_async, NULL, NULL, NULL, napi_enumerable, NULL}, \
  CRYO_HASHER_PROPS
