/*
 * fillPages: a restored task's pages copied from the pages images into its memory by several
 * threads of cryo at once (pread into a buffer of each thread's own, process_vm_writev into the
 * task). Part of cryo_sys.c's translation unit (included there).
 *
 * Why: faulting in fresh anonymous memory is most of a large restore's time, and one thread (the
 * task's own injected preadv) faults it on one core. process_vm_writev faults the task's pages in
 * the task's mm from whichever thread calls it, so N threads fault on N cores.
 *
 * Why two copies (page cache -> buffer -> task) and not one from the image file mapped in cryo:
 * the buffer stays in the CPU's cache, while a mapped file costs cryo a fault and a page-table
 * entry per page (and the unmapping): 256 MiB by 2 threads took 125-198 ms CPU through a buffer,
 * 161-302 ms from a mapping (dropped after each piece; 167-249 with MADV_POPULATE_READ first).
 *
 * fillPages(pid, fds, runs, count, threads): `runs` holds `count` records of FILL_RECORD bytes in
 * this machine's byte order: the task's address, the byte in the file, the length (uint64 each),
 * the index of the file in `fds` (uint32). Runs that lie back to back in one file go out in one
 * pread and one process_vm_writev (up to FILL_PIECE bytes, FILL_IOV runs). Returns undefined when
 * every byte is in place, else [what, run, at, errno, got]: what 1 = the file ended (`got` bytes
 * of the piece read), 2 = a read error, 3 = a write into the task failed or stopped short; `run`
 * and `at` (bytes into that run) say where the piece began.
 */
#include <pthread.h>
#include <sys/uio.h>

#define FILL_RECORD 32
#define FILL_PIECE (2 << 20)
#define FILL_IOV 1024
#define FILL_MAX_THREADS 64

struct fill_run {
  uint64_t addr, off, len;
  uint32_t fd;
};

struct fill_job {
  pid_t pid;
  const int32_t *fds;
  uint32_t nfds;
  const unsigned char *runs;
  size_t count;
  pthread_mutex_t mu;
  size_t next, next_at; /* the cursor: the run and the byte in it the next piece starts at */
  int failed;           /* set with the first failure: the others stop at their next piece */
  int what, err;
  size_t fail_run, fail_at;
  uint64_t fail_got;
};

static void fill_run_at(const struct fill_job *j, size_t i, struct fill_run *r) {
  const unsigned char *p = j->runs + i * FILL_RECORD;
  memcpy(&r->addr, p, 8);
  memcpy(&r->off, p + 8, 8);
  memcpy(&r->len, p + 16, 8);
  memcpy(&r->fd, p + 24, 4);
}

/* The next piece under the lock: its remote iovecs, file, offset and length; 0 when none is left. */
static size_t fill_take(struct fill_job *j, struct iovec *remote, int *n, int *fd, uint64_t *off, size_t *run, size_t *at) {
  size_t bytes = 0;
  *n = 0;
  pthread_mutex_lock(&j->mu);
  while (!j->failed && j->next < j->count && *n < FILL_IOV && bytes < FILL_PIECE) {
    struct fill_run r;
    fill_run_at(j, j->next, &r);
    uint64_t from = r.off + j->next_at;
    if (*n == 0) {
      *fd = r.fd < j->nfds ? j->fds[r.fd] : -1;
      *off = from;
      *run = j->next;
      *at = j->next_at;
    } else if ((r.fd < j->nfds ? j->fds[r.fd] : -1) != *fd || from != *off + bytes) {
      break; /* not back to back in the same file: the next piece */
    }
    uint64_t len = r.len - j->next_at;
    if (len > FILL_PIECE - bytes) len = FILL_PIECE - bytes;
    remote[*n].iov_base = (void *)(uintptr_t)(r.addr + j->next_at);
    remote[*n].iov_len = len;
    (*n)++;
    bytes += len;
    j->next_at += len;
    if (j->next_at == r.len) {
      j->next++;
      j->next_at = 0;
    }
  }
  pthread_mutex_unlock(&j->mu);
  return bytes;
}

static void fill_fail(struct fill_job *j, int what, int err, size_t run, size_t at, uint64_t got) {
  pthread_mutex_lock(&j->mu);
  if (!j->failed) {
    j->failed = 1;
    j->what = what;
    j->err = err;
    j->fail_run = run;
    j->fail_at = at;
    j->fail_got = got;
  }
  pthread_mutex_unlock(&j->mu);
}

static void *fill_worker(void *arg) {
  struct fill_job *j = arg;
  static __thread struct iovec remote[FILL_IOV];
  char *buf = malloc(FILL_PIECE);
  if (buf == NULL) {
    fill_fail(j, 2, ENOMEM, 0, 0, 0);
    return NULL;
  }
  for (;;) {
    int n = 0, fd = -1;
    uint64_t off = 0;
    size_t run = 0, at = 0;
    size_t bytes = fill_take(j, remote, &n, &fd, &off, &run, &at);
    if (bytes == 0) break;
    size_t got = 0;
    while (got < bytes) {
      ssize_t r = pread(fd, buf + got, bytes - got, (off_t)(off + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) { fill_fail(j, 2, errno, run, at, got); break; }
      if (r == 0) { fill_fail(j, 1, 0, run, at, got); break; }
      got += (size_t)r;
    }
    if (got < bytes) break;
    struct iovec local = {buf, bytes};
    size_t put = 0;
    /* process_vm_writev stops at the first remote iovec it cannot write: a short count is a failure. */
    ssize_t w;
    do w = syscall(SYS_process_vm_writev, j->pid, &local, 1UL, remote, (unsigned long)n, 0UL);
    while (w < 0 && errno == EINTR);
    if (w >= 0) put = (size_t)w;
    if (put != bytes) { fill_fail(j, 3, w < 0 ? errno : 0, run, at, put); break; }
  }
  free(buf);
  return NULL;
}

static napi_value js_fill_pages(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t pid = 0;
  uint32_t count = 0, threads = 1;
  void *fds = NULL, *runs = NULL;
  size_t fds_len = 0, runs_len = 0;
  napi_typedarray_type type;
  napi_value ab;
  size_t ab_off;
  if (argc < 5 || napi_get_value_int32(env, argv[0], &pid) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], &type, &fds_len, &fds, &ab, &ab_off) != napi_ok || type != napi_int32_array ||
      napi_get_buffer_info(env, argv[2], &runs, &runs_len) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &count) != napi_ok || napi_get_value_uint32(env, argv[4], &threads) != napi_ok ||
      (size_t)count * FILL_RECORD > runs_len) {
    napi_throw_type_error(env, NULL, "fillPages(pid, fds: Int32Array, runs: Buffer, count, threads)");
    return NULL;
  }
  if (threads < 1) threads = 1;
  if (threads > FILL_MAX_THREADS) threads = FILL_MAX_THREADS;
  struct fill_job j;
  memset(&j, 0, sizeof j);
  j.pid = pid;
  j.fds = fds;
  j.nfds = (uint32_t)fds_len;
  j.runs = runs;
  j.count = count;
  pthread_mutex_init(&j.mu, NULL);
  pthread_t tids[FILL_MAX_THREADS];
  uint32_t started = 0;
  /* The calling thread is one of the workers; a thread that cannot start leaves the work to the others. */
  for (uint32_t i = 1; i < threads; i++) {
    if (pthread_create(&tids[started], NULL, fill_worker, &j) == 0) started++;
  }
  fill_worker(&j);
  for (uint32_t i = 0; i < started; i++) pthread_join(tids[i], NULL);
  pthread_mutex_destroy(&j.mu);
  napi_value res;
  if (!j.failed) {
    napi_get_undefined(env, &res);
    return res;
  }
  double vals[5] = {j.what, (double)j.fail_run, (double)j.fail_at, j.err, (double)j.fail_got};
  CHECK(napi_create_array_with_length(env, 5, &res));
  for (uint32_t i = 0; i < 5; i++) {
    napi_value el;
    napi_create_double(env, vals[i], &el);
    napi_set_element(env, res, i, el);
  }
  return res;
}
