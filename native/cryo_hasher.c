/*
 * A hasher that runs beside cryo's main thread (included by cryo_digest.c, which supplies
 * find_digest and read_all): pieces of files are added as their bytes land (the dump adds each
 * batch of pages once it is spliced into the pages image; restore adds every deferred pages
 * image at once), one thread of its own hashes them in order, and finish() hashes what is left
 * from the other end on the calling thread as well, so both cores hash once the caller has
 * nothing else to do. The digests come back in the order the pieces were added.
 *
 *   hasherStart(idle) -> handle; idle: SCHED_IDLE until finish()
 *   hasherFile(h, fd, algorithm) -> the hasher's own copy of fd (closed with the hasher), its pieces
 *                   hashed by that algorithm; throws ENOSYS where the process cannot compute it
 *   hasherAdd(h, copy, offset, lengths: Uint32Array)   pieces back to back from offset in that file
 *   hasherFinish(h) -> Buffer of 32 bytes per piece; throws the first read error
 *   hasherStop(h)   ends the thread, keeps nothing (also done when the handle is collected)
 */
#include <pthread.h>
#include <sched.h>

/* Bytes one claim covers at most (one pread per run of consecutive pieces in it). */
#define HASHER_CLAIM (4u << 20)

struct hasher_piece { uint64_t off; uint32_t len; int32_t fd; digest_fn digest; };

struct hasher {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  int started, stopping, finishing, err, idle;
  int *fds;
  digest_fn *digests; /* each file's algorithm */
  size_t nfds;
  struct hasher_piece *p;
  unsigned char *out;
  size_t n, cap;
  size_t front; /* the next piece the thread claims */
  size_t back;  /* pieces from here on are claimed by finish() */
  size_t busy;  /* claims being hashed outside the lock */
};

/* The end of a claim starting at `from` going up: whole pieces, at most HASHER_CLAIM bytes (at least one). */
static size_t claim_up(struct hasher *h, size_t from, size_t limit) {
  size_t e = from + 1;
  uint64_t bytes = h->p[from].len;
  while (e < limit && bytes + h->p[e].len <= HASHER_CLAIM) bytes += h->p[e++].len;
  return e;
}

/* The start of a claim ending at `to` going down (see claim_up). */
static size_t claim_down(struct hasher *h, size_t to, size_t limit) {
  size_t s = to - 1;
  uint64_t bytes = h->p[s].len;
  while (s > limit && bytes + h->p[s - 1].len <= HASHER_CLAIM) bytes += h->p[--s].len;
  return s;
}

/* Hashes pieces [s, e) (copied out under the lock) into `md`; 0 or an errno (EIO: the file ended early). */
static int hash_claim(const struct hasher_piece *p, size_t count, unsigned char *buf, unsigned char *md) {
  for (size_t i = 0; i < count;) {
    /* A run of pieces back to back in one file: one read; each piece hashed whole (BLAKE3's SIMD takes many chunks at once). */
    size_t j = i + 1;
    uint64_t want = p[i].len;
    while (j < count && p[j].fd == p[i].fd && p[j].off == p[i].off + want && want + p[j].len <= HASHER_CLAIM) want += p[j++].len;
    size_t got = 0;
    int err = read_all(p[i].fd, buf, (size_t)want, (off_t)p[i].off, &got);
    if (err) return err;
    if (got < want) return EIO;
    for (size_t used = 0; i < j; used += p[i].len, i++) p[i].digest(buf + used, p[i].len, md + i * 32);
  }
  return 0;
}

/* Hashes the claim [s, e) outside the lock (held on entry and on return). */
static void run_claim(struct hasher *h, size_t s, size_t e, unsigned char *buf) {
  size_t count = e - s;
  struct hasher_piece *copy = malloc(count * sizeof *copy);
  unsigned char *md = malloc(count * 32);
  int err = copy && md ? 0 : ENOMEM;
  if (!err) memcpy(copy, h->p + s, count * sizeof *copy);
  h->busy++;
  pthread_mutex_unlock(&h->mu);
  if (!err) err = hash_claim(copy, count, buf, md);
  pthread_mutex_lock(&h->mu);
  h->busy--;
  if (err && !h->err) h->err = err;
  if (!err) memcpy(h->out + s * 32, md, count * 32);
  free(copy);
  free(md);
  pthread_cond_broadcast(&h->cv);
}

/* The thread's scheduling: hasherStart(true) makes it SCHED_IDLE until finish() (it takes only a core nothing else wants: a dump's frozen task goes first), then normal. */
static void hasher_policy(pthread_t t, int policy) {
  struct sched_param none = { .sched_priority = 0 };
  pthread_setschedparam(t, policy, &none); /* failing (no CAP_SYS_NICE to leave SCHED_IDLE): it only hashes slower */
}

static void *hasher_thread(void *arg) {
  struct hasher *h = arg;
  if (h->idle) hasher_policy(pthread_self(), SCHED_IDLE);
  unsigned char *buf = malloc(HASHER_CLAIM);
  pthread_mutex_lock(&h->mu);
  if (!buf) h->err = ENOMEM;
  for (;;) {
    size_t limit = h->finishing ? h->back : h->n;
    if (h->stopping || h->err || (h->finishing && h->front >= limit)) break;
    if (h->front >= limit) {
      pthread_cond_wait(&h->cv, &h->mu);
      continue;
    }
    size_t s = h->front, e = claim_up(h, s, limit);
    h->front = e;
    run_claim(h, s, e, buf);
  }
  pthread_mutex_unlock(&h->mu);
  free(buf);
  return NULL;
}

static void hasher_free(struct hasher *h) {
  if (h->started) {
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    h->started = 0;
  }
  for (size_t i = 0; i < h->nfds; i++) close(h->fds[i]);
  free(h->fds);
  free(h->digests);
  free(h->p);
  free(h->out);
  h->fds = NULL;
  h->digests = NULL;
  h->p = NULL;
  h->out = NULL;
  h->nfds = h->n = h->cap = 0;
}

static void hasher_finalize(napi_env env, void *data, void *hint) {
  struct hasher *h = data;
  hasher_free(h);
  pthread_cond_destroy(&h->cv);
  pthread_mutex_destroy(&h->mu);
  free(h);
}

static struct hasher *hasher_of(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &data) != napi_ok || !data) {
    napi_throw_type_error(env, NULL, "not a hasher (hasherStart's handle)");
    return NULL;
  }
  return data;
}

static napi_value js_hasher_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg, res;
  bool idle = false;
  CHECK(napi_get_cb_info(env, info, &argc, &arg, NULL, NULL));
  if (argc > 0) napi_get_value_bool(env, arg, &idle);
  struct hasher *h = calloc(1, sizeof *h);
  if (!h) return throw_errno(env, ENOMEM, "malloc");
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->cv, NULL);
  h->idle = idle;
  int err = pthread_create(&h->thread, NULL, hasher_thread, h);
  if (err) {
    hasher_finalize(env, h, NULL);
    return throw_errno(env, err, "pthread_create");
  }
  h->started = 1;
  CHECK(napi_create_external(env, h, hasher_finalize, NULL, &res));
  return res;
}

static napi_value js_hasher_file(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], res;
  int32_t fd, alg;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct hasher *h = argc < 3 ? NULL : hasher_of(env, argv[0]);
  if (!h) return NULL;
  if (napi_get_value_int32(env, argv[1], &fd) != napi_ok || napi_get_value_int32(env, argv[2], &alg) != napi_ok) {
    napi_throw_type_error(env, NULL, "hasherFile needs (hasher, fd, algorithm)");
    return NULL;
  }
  digest_fn digest = find_digest(alg);
  if (!digest) return throw_errno(env, ENOSYS, "hasherFile (an algorithm this process cannot compute)");
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return throw_errno(env, errno, "dup");
  pthread_mutex_lock(&h->mu);
  int *fds = realloc(h->fds, (h->nfds + 1) * sizeof *fds);
  if (fds) h->fds = fds;
  digest_fn *digests = fds ? realloc(h->digests, (h->nfds + 1) * sizeof *digests) : NULL;
  if (digests) {
    h->digests = digests;
    h->fds[h->nfds] = copy;
    h->digests[h->nfds++] = digest;
  }
  pthread_mutex_unlock(&h->mu);
  if (!digests) {
    close(copy);
    return throw_errno(env, ENOMEM, "realloc");
  }
  CHECK(napi_create_int32(env, copy, &res));
  return res;
}

static napi_value js_hasher_add(napi_env env, napi_callback_info info) {
  size_t argc = 4, n;
  napi_value argv[4], res;
  int32_t fd;
  int64_t offset;
  napi_typedarray_type type;
  void *lens;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct hasher *h = argc < 4 ? NULL : hasher_of(env, argv[0]);
  if (!h) return NULL;
  if (napi_get_value_int32(env, argv[1], &fd) != napi_ok || napi_get_value_int64(env, argv[2], &offset) != napi_ok || offset < 0 ||
      napi_get_typedarray_info(env, argv[3], &type, &n, &lens, NULL, NULL) != napi_ok || type != napi_uint32_array) {
    napi_throw_type_error(env, NULL, "hasherAdd needs (hasher, hasherFile's fd, offset, Uint32Array of lengths)");
    return NULL;
  }
  const uint32_t *len = lens;
  digest_fn digest = NULL;
  for (size_t i = 0; i < n; i++) {
    if (len[i] == 0 || len[i] > HASHER_CLAIM) {
      napi_throw_range_error(env, NULL, "hasherAdd: a piece is empty or longer than 4 MiB");
      return NULL;
    }
  }
  pthread_mutex_lock(&h->mu);
  for (size_t i = 0; i < h->nfds; i++) if (h->fds[i] == fd) digest = h->digests[i];
  int err = !digest ? EBADF : h->finishing ? EINVAL : 0;
  if (!err && h->n + n > h->cap) {
    size_t cap = h->cap ? h->cap : 1024;
    while (cap < h->n + n) cap *= 2;
    struct hasher_piece *p = realloc(h->p, cap * sizeof *p);
    if (p) h->p = p;
    unsigned char *out = p ? realloc(h->out, cap * 32) : NULL;
    if (out) h->out = out;
    if (p && out) h->cap = cap;
    else err = ENOMEM;
  }
  if (!err) {
    for (size_t i = 0; i < n; i++) {
      h->p[h->n + i] = (struct hasher_piece){ .off = (uint64_t)offset, .len = len[i], .fd = fd, .digest = digest };
      offset += len[i];
    }
    h->n += n;
    pthread_cond_broadcast(&h->cv);
  }
  pthread_mutex_unlock(&h->mu);
  if (err) return throw_errno(env, err, err == EBADF ? "hasherAdd (not a file of this hasher)" : err == EINVAL ? "hasherAdd (after finish)" : "realloc");
  CHECK(napi_get_undefined(env, &res));
  return res;
}

/*
 * Waits for every piece, hashing from the last one down on this thread while the hasher's thread
 * goes up from its front; returns the digests, or throws the first read error.
 */
static napi_value js_hasher_finish(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg, res;
  void *data;
  CHECK(napi_get_cb_info(env, info, &argc, &arg, NULL, NULL));
  struct hasher *h = argc < 1 ? NULL : hasher_of(env, arg);
  if (!h) return NULL;
  unsigned char *buf = malloc(HASHER_CLAIM);
  pthread_mutex_lock(&h->mu);
  if (!buf && !h->err) h->err = ENOMEM;
  if (!h->finishing) {
    h->finishing = 1;
    h->back = h->n;
    if (h->started && h->idle) hasher_policy(h->thread, SCHED_OTHER);
    pthread_cond_broadcast(&h->cv);
  }
  while (!h->err && !h->stopping && h->back > h->front) {
    size_t e = h->back, s = claim_down(h, e, h->front);
    h->back = s;
    run_claim(h, s, e, buf);
  }
  while (h->busy > 0) pthread_cond_wait(&h->cv, &h->mu);
  int err = h->err ? h->err : h->stopping ? ECANCELED : 0;
  size_t n = h->n;
  pthread_mutex_unlock(&h->mu);
  free(buf);
  if (err) return throw_errno(env, err, err == EIO ? "hasher (a file ended before its pieces)" : "hasher");
  CHECK(napi_create_buffer_copy(env, n * 32, h->out ? h->out : (void *)"", &data, &res));
  return res;
}

static napi_value js_hasher_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg, res;
  CHECK(napi_get_cb_info(env, info, &argc, &arg, NULL, NULL));
  struct hasher *h = argc < 1 ? NULL : hasher_of(env, arg);
  if (!h) return NULL;
  hasher_free(h);
  CHECK(napi_get_undefined(env, &res));
  return res;
}

#define CRYO_HASHER_PROPS \
  {"hasherStart", NULL, js_hasher_start, NULL, NULL, NULL, napi_enumerable, NULL}, \
  {"hasherFile", NULL, js_hasher_file, NULL, NULL, NULL, napi_enumerable, NULL}, \
  {"hasherAdd", NULL, js_hasher_add, NULL, NULL, NULL, napi_enumerable, NULL}, \
  {"hasherFinish", NULL, js_hasher_finish, NULL, NULL, NULL, napi_enumerable, NULL}, \
  {"hasherStop", NULL, js_hasher_stop, NULL, NULL, NULL, napi_enumerable, NULL},
