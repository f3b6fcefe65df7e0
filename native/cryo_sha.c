/*
 * SHA-256 of consecutive pieces of a file (cryo-manifest.img) for cryo's addon: included by
 * cryo_sys.c (one translation unit; scripts/build-native.mjs compiles that file), which supplies
 * CHECK, throw_errno and the headers.
 */

/* OpenSSL's one-shot SHA256(), as the node binary (or the libcrypto it links) exports it. */
typedef unsigned char *(*sha256_fn)(const unsigned char *data, size_t len, unsigned char *md);

/* Bytes read from the file at a time (a piece longer than this gets a buffer of its own size). */
#define SHA_READ_BYTES (4u << 20)

static sha256_fn find_sha256(void) {
  static sha256_fn sha256;
  static int looked;
  if (!looked) {
    sha256 = (sha256_fn)dlsym(RTLD_DEFAULT, "SHA256");
    looked = 1;
  }
  return sha256;
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
static int hash_pieces(sha256_fn sha256, int fd, off_t at, const uint32_t *len, size_t n, unsigned char *out, size_t *done_out) {
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
    for (; done < end && used + len[done] <= got; used += len[done], done++) sha256(buf + used, len[done], out + done * 32);
    if (got < want) break;
    at += (off_t)want;
  }
  free(buf);
  *done_out = done;
  return err;
}

/* The arguments both forms take: (fd, offset, Uint32Array of lengths, Buffer of 32 bytes per length). */
static int pieces_args(napi_env env, napi_value *argv, size_t argc, int32_t *fd, int64_t *offset, uint32_t **len, size_t *n, unsigned char **out) {
  napi_typedarray_type type;
  size_t outLen;
  void *lens, *o;
  if (argc < 4 || napi_get_value_int32(env, argv[0], fd) != napi_ok || napi_get_value_int64(env, argv[1], offset) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &type, n, &lens, NULL, NULL) != napi_ok || type != napi_uint32_array ||
      napi_get_buffer_info(env, argv[3], &o, &outLen) != napi_ok || outLen < *n * 32) {
    napi_throw_type_error(env, NULL, "sha256Pieces needs (fd, offset, Uint32Array of lengths, Buffer of 32 bytes per length)");
    return 0;
  }
  *len = lens;
  *out = o;
  return 1;
}

/*
 * sha256Pieces(fd, offset, lengths: Uint32Array, out: Buffer of 32 * lengths.length bytes): the
 * pieces lie back to back from byte `offset`; their digests go to `out` in order. Returns how many
 * pieces were hashed (fewer when the file ends first), or -1 when the process has no SHA256().
 */
static napi_value js_sha256_pieces(napi_env env, napi_callback_info info) {
  size_t argc = 4, n, done;
  napi_value argv[4], res;
  int32_t fd;
  int64_t offset;
  uint32_t *len;
  unsigned char *out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!pieces_args(env, argv, argc, &fd, &offset, &len, &n, &out)) return NULL;
  sha256_fn sha256 = find_sha256();
  if (!sha256) {
    CHECK(napi_create_int32(env, -1, &res));
    return res;
  }
  int err = hash_pieces(sha256, fd, (off_t)offset, len, n, out, &done);
  if (err) return throw_errno(env, err, err == ENOMEM ? "malloc" : "pread");
  CHECK(napi_create_int64(env, (int64_t)done, &res));
  return res;
}

/* One sha256PiecesAsync call: hashed on libuv's thread pool (no JavaScript thread to start). */
struct sha_job {
  napi_async_work work;
  napi_ref out_ref, cb_ref;
  sha256_fn sha256;
  int fd, err;
  off_t offset;
  uint32_t *len;
  size_t n, done;
  unsigned char *out;
};

static void sha_job_execute(napi_env env, void *data) {
  (void)env;
  struct sha_job *job = data;
  job->err = hash_pieces(job->sha256, job->fd, job->offset, job->len, job->n, job->out, &job->done);
}

static void sha_job_complete(napi_env env, napi_status status, void *data) {
  struct sha_job *job = data;
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
 * sha256PiecesAsync(fd, offset, lengths, out, callback(errno, done)): sha256Pieces on the thread
 * pool; returns -1 (and never calls back) when the process has no SHA256(), else 0. `out` is
 * written until the callback; `fd` must stay open until then.
 */
static napi_value js_sha256_pieces_async(napi_env env, napi_callback_info info) {
  size_t argc = 5, n;
  napi_value argv[5], res, name;
  napi_valuetype cbType;
  int32_t fd;
  int64_t offset;
  uint32_t *len;
  unsigned char *out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!pieces_args(env, argv, argc, &fd, &offset, &len, &n, &out)) return NULL;
  if (argc < 5 || napi_typeof(env, argv[4], &cbType) != napi_ok || cbType != napi_function) {
    napi_throw_type_error(env, NULL, "sha256PiecesAsync needs a callback after sha256Pieces' arguments");
    return NULL;
  }
  sha256_fn sha256 = find_sha256();
  if (!sha256) {
    CHECK(napi_create_int32(env, -1, &res));
    return res;
  }
  struct sha_job *job = calloc(1, sizeof *job);
  if (!job || !(job->len = malloc(n * sizeof *len + 1))) {
    free(job);
    return throw_errno(env, ENOMEM, "malloc");
  }
  memcpy(job->len, len, n * sizeof *len);
  job->sha256 = sha256;
  job->fd = fd;
  job->offset = (off_t)offset;
  job->n = n;
  job->out = out;
  CHECK(napi_create_reference(env, argv[3], 1, &job->out_ref));
  CHECK(napi_create_reference(env, argv[4], 1, &job->cb_ref));
  CHECK(napi_create_string_utf8(env, "cryo:sha256", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, sha_job_execute, sha_job_complete, job, &job->work));
  CHECK(napi_queue_async_work(env, job->work));
  CHECK(napi_create_int32(env, 0, &res));
  return res;
}


#include "cryo_hasher.c" /* hasherStart and the rest: a hashing thread beside the main one */

#define CRYO_SHA_PROPS \
  {"sha256Pieces", NULL, js_sha256_pieces, NULL, NULL, NULL, napi_enumerable, NULL}, \
  {"sha256PiecesAsync", NULL, js_sha256_pieces_async, NULL, NULL, NULL, napi_enumerable, NULL}, \
  CRYO_HASHER_PROPS
