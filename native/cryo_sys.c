/*
 * cryo's native addon: the few things JavaScript cannot do by itself. Kept generic on purpose;
 * everything else is TypeScript over `syscall` (see src/sys/index.ts).
 *
 *   syscall(nr, a0..a5)  raw system call; numbers, bigints or Buffers/TypedArrays (their data
 *                        address) as arguments; returns a bigint or throws an Error with .errno
 *   addressOf(buffer)    the address of a Buffer's / TypedArray's / ArrayBuffer's data
 *   spawn(opts)          clone3 (optionally with set_tid) + execve; the child of a multi-threaded
 *                        process may only do async-signal-safe work, hence C
 *   digest, digestPieces, digestPiecesAsync, hasher* (cryo_digest.c, cryo_hasher.c)
 *                        BLAKE3-256 or SHA-256 of a buffer, or of consecutive pieces of a file
 *                        (cryo-manifest.img): BLAKE3 by its official C code (built beside this
 *                        file), SHA-256 by Node's own OpenSSL found at run time; on the calling
 *                        thread, libuv's thread pool, or a hashing thread of the addon's own
 *   waitStop(pid, opts, ms) wait4 blocked until a traced task reports, bounded by a timer (cryo_wait.c)
 *   smapsRead(path)      /proc/PID/smaps parsed into records (cryo_smaps.c): a dump reads it inside
 *                        the freeze, and 10,000 mappings cost ~95 ms of JavaScript; smapsReadAsync
 *                        the same on libuv's thread pool
 *   fillPages(...)       a restore's pages written into the task by several threads (cryo_fill.c)
 *   cpuid, xgetbv        x86 only (absent elsewhere)
 *
 * Builds with any C compiler against Node's headers on x86_64, aarch64, ppc64le and s390x.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#ifndef __NR_clone3
#define __NR_clone3 435 /* same number on every architecture */
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "cryo_sys: N-API call failed: " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

/* Throws an Error carrying .errno and .syscall, which the TypeScript side turns into a SysError. */
static napi_value throw_errno(napi_env env, int err, const char *call) {
  napi_value msg, error, num, name;
  char text[160];
  snprintf(text, sizeof text, "%s failed: %s", call, strerror(err));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, call, NAPI_AUTO_LENGTH, &name);
  napi_set_named_property(env, error, "syscall", name);
  napi_throw(env, error);
  return NULL;
}

/* The data address of a Buffer, TypedArray, DataView or ArrayBuffer; 0 if it is none of these. */
static int buffer_address(napi_env env, napi_value v, void **addr) {
  bool is;
  size_t len;
  if (napi_is_buffer(env, v, &is) == napi_ok && is) return napi_get_buffer_info(env, v, addr, &len) == napi_ok;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type t;
    napi_value ab;
    size_t off;
    return napi_get_typedarray_info(env, v, &t, &len, addr, &ab, &off) == napi_ok;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    napi_value ab;
    size_t off;
    return napi_get_dataview_info(env, v, &len, addr, &ab, &off) == napi_ok;
  }
  if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) return napi_get_arraybuffer_info(env, v, addr, &len) == napi_ok;
  return 0;
}

/* One syscall argument as a machine word. */
static int to_word(napi_env env, napi_value v, long *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  switch (t) {
    case napi_undefined:
    case napi_null: *out = 0; return 1;
    case napi_boolean: { bool b; napi_get_value_bool(env, v, &b); *out = b; return 1; }
    case napi_number: {
      double d;
      napi_get_value_double(env, v, &d);
      /* Negative numbers (AT_FDCWD, -1) are sign-extended; large positive ones fit uint64. */
      *out = d < 0 ? (long)(int64_t)d : (long)(uint64_t)d;
      return 1;
    }
    case napi_bigint: {
      int64_t s;
      bool lossless;
      if (napi_get_value_bigint_int64(env, v, &s, &lossless) != napi_ok) return 0;
      if (!lossless) { /* a value above INT64_MAX: take it as unsigned */
        uint64_t u;
        napi_get_value_bigint_uint64(env, v, &u, &lossless);
        *out = (long)u;
      } else {
        *out = (long)s;
      }
      return 1;
    }
    case napi_object: {
      void *p = NULL;
      if (!buffer_address(env, v, &p)) return 0;
      *out = (long)(uintptr_t)p;
      return 1;
    }
    default: return 0;
  }
}

static napi_value js_syscall(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  long a[7] = {0};
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) { napi_throw_type_error(env, NULL, "syscall(nr, ...args): nr missing"); return NULL; }
  for (size_t i = 0; i < argc; i++) {
    if (!to_word(env, argv[i], &a[i])) {
      napi_throw_type_error(env, NULL, "syscall arguments must be numbers, bigints or Buffers/TypedArrays");
      return NULL;
    }
  }
  errno = 0;
  long r = syscall(a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
  if (r == -1 && errno != 0) return throw_errno(env, errno, "syscall");
  napi_value res;
  CHECK(napi_create_bigint_int64(env, (int64_t)r, &res));
  return res;
}

/*
 * spliceAll(from, to, bytes, piece): splice(2) exactly `bytes` from `from` to `to` (one a pipe), at most
 * `piece` per call, in one call from JavaScript (a GiB of pages is 16,384 splices of 64 KiB, each a few
 * microseconds of JavaScript otherwise). Returns the bytes moved: fewer where a splice moved nothing.
 */
static napi_value js_splice_all(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int64_t a[4] = {0};
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  for (size_t i = 0; i < 4; i++) {
    if (i >= argc || napi_get_value_int64(env, argv[i], &a[i]) != napi_ok || a[i] < 0) {
      napi_throw_type_error(env, NULL, "spliceAll(from, to, bytes, piece): four numbers >= 0");
      return NULL;
    }
  }
  int64_t left = a[2], piece = a[3] > 0 ? a[3] : a[2];
  while (left > 0) {
    ssize_t n = splice((int)a[0], NULL, (int)a[1], NULL, (size_t)(left < piece ? left : piece), SPLICE_F_MOVE);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return throw_errno(env, errno, "splice");
    if (n == 0) break;
    left -= n;
  }
  napi_value res;
  CHECK(napi_create_int64(env, a[2] - left, &res));
  return res;
}

/* mmap in cryo itself through libc: s390x's mmap syscall takes a pointer to its six arguments. */
static napi_value js_mmap(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  long a[6] = {0};
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  for (size_t i = 0; i < argc; i++) {
    if (!to_word(env, argv[i], &a[i])) {
      napi_throw_type_error(env, NULL, "mmap arguments must be numbers or bigints");
      return NULL;
    }
  }
  void *r = mmap((void *)a[0], (size_t)a[1], (int)a[2], (int)a[3], (int)a[4], (off_t)a[5]);
  if (r == MAP_FAILED) return throw_errno(env, errno, "mmap");
  napi_value res;
  CHECK(napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)r, &res));
  return res;
}

static napi_value js_address_of(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg, res;
  void *p = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, &arg, NULL, NULL));
  if (argc < 1 || !buffer_address(env, arg, &p)) {
    napi_throw_type_error(env, NULL, "addressOf needs a Buffer, TypedArray, DataView or ArrayBuffer");
    return NULL;
  }
  CHECK(napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)p, &res));
  return res;
}

#include "cryo_digest.c" /* digest, digestPieces(Async), the hasher: part of this translation unit */

/* ---- spawn ---------------------------------------------------------------------------------- */

/* struct clone_args (include/uapi/linux/sched.h), declared here so old libc headers do not matter. */
struct cryo_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

static char *get_string(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s) napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static napi_value get_prop(napi_env env, napi_value obj, const char *name) {
  napi_value v = NULL;
  napi_get_named_property(env, obj, name, &v);
  return v;
}

/* A JS array of strings as a NULL-terminated, malloc'd char* array; NULL on a bad value. */
static char **get_string_array(napi_env env, napi_value arr) {
  uint32_t n;
  if (napi_get_array_length(env, arr, &n) != napi_ok) return NULL;
  char **out = calloc(n + 1, sizeof(char *));
  for (uint32_t i = 0; out && i < n; i++) {
    napi_value el;
    napi_get_element(env, arr, i, &el);
    if (!(out[i] = get_string(env, el))) { /* leak on error paths is bounded and rare */
      return NULL;
    }
  }
  return out;
}

static void free_string_array(char **a) {
  if (!a) return;
  for (char **p = a; *p; p++) free(*p);
  free(a);
}

static int get_int_array(napi_env env, napi_value arr, int *out, uint32_t max, uint32_t *n) {
  if (napi_get_array_length(env, arr, n) != napi_ok || *n > max) return 0;
  for (uint32_t i = 0; i < *n; i++) {
    napi_value el;
    napi_get_element(env, arr, i, &el);
    if (napi_get_value_int32(env, el, &out[i]) != napi_ok) return 0;
  }
  return 1;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Closes every descriptor except the sorted list keep[0..n) (close_range between them). */
static void close_all_but(const int *keep, uint32_t n) {
  unsigned int from = 0;
  for (uint32_t i = 0; i <= n; i++) {
    unsigned int to = i < n ? (unsigned int)keep[i] : ~0U;
    if (i < n && (unsigned int)keep[i] < from) continue; /* duplicate */
    if (to > from) {
      if (syscall(__NR_close_range, from, to - 1, 0) != 0 && errno == ENOSYS) {
        for (unsigned int fd = from; fd < to && fd < 65536; fd++) syscall(__NR_close, fd);
      }
    }
    if (i < n) from = (unsigned int)keep[i] + 1;
  }
}

/* The child, between clone3 and execve: raw syscalls and async-signal-safe libc calls only. */
static void child_exec(const char *path, char **argv, char **envp, int trace_me, int stop, const int *keep, uint32_t nkeep,
                       const char *cwd, int err_fd, int die_with_parent, long parent) {
  int err;
  const char *what;
  /* Node installs handlers and ignores SIGPIPE; a new program starts with defaults and no mask. */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);

  if (cwd && syscall(__NR_chdir, cwd) != 0) { err = errno; what = "chdir"; goto fail; }
  close_all_but(keep, nkeep);
  /* Kept descriptors survive the exec even when the parent had them close-on-exec. */
  for (uint32_t i = 0; i < nkeep; i++) {
    if (keep[i] != err_fd) fcntl(keep[i], F_SETFD, 0);
  }
  if (trace_me && syscall(__NR_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0) != 0) { err = errno; what = "ptrace"; goto fail; }
  if (die_with_parent) {
    syscall(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (syscall(__NR_getppid) != parent) syscall(__NR_exit_group, 127);
  }
  if (stop) syscall(__NR_kill, syscall(__NR_getpid), SIGSTOP);
  syscall(__NR_execve, path, argv, envp);
  err = errno;
  what = "execve";
fail:
  if (err_fd >= 0) {
    /* Report {errno, which call} to the parent through the close-on-exec pipe. */
    int msg[2] = {err, what[0] == 'c' ? 1 : what[0] == 'p' ? 2 : 3};
    ssize_t ignored = write(err_fd, msg, sizeof msg);
    (void)ignored;
  }
  syscall(__NR_exit_group, 127);
}

#include "cryo_clone_vm.c"

struct child_args {
  const char *path, *cwd;
  char **argv, **envp;
  int trace_me, stop, err_fd, die_with_parent;
  const int *keep;
  uint32_t nkeep;
  long parent;
};

static void child_main(void *p) {
  const struct child_args *c = p;
  child_exec(c->path, c->argv, c->envp, c->trace_me, c->stop, c->keep, c->nkeep, c->cwd, c->err_fd, c->die_with_parent, c->parent);
}

/*
 * Starts the child: in cryo's address space while the caller sleeps (cryo_clone_vm.c), or a copy of
 * it for a child that stops before its exec (the caller must not wait for that) or where the
 * architecture has no trampoline. Returns its PID, or -errno.
 */
static long start_child(struct cryo_clone_args *ca, const struct child_args *c) {
#if CLONE_VM_SPAWN
  if (!c->stop) {
    void *stack = mmap(NULL, CLONE_VM_SPAWN_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return -errno;
    ca->flags |= CLONE_VM | CLONE_VFORK;
    ca->stack = (uint64_t)(uintptr_t)stack;
    ca->stack_size = CLONE_VM_SPAWN_STACK;
    /* Back here once the child has exec'd or exited: its stack is no longer in use. */
    long pid = clone3_vm(ca, sizeof *ca, child_main, (void *)c);
    munmap(stack, CLONE_VM_SPAWN_STACK);
    return pid;
  }
#endif
  long pid = syscall(__NR_clone3, ca, sizeof *ca);
  if (pid == 0) child_main((void *)c);
  return pid < 0 ? -errno : pid;
}

static napi_value js_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value opts;
  CHECK(napi_get_cb_info(env, info, &argc, &opts, NULL, NULL));

  char *path = get_string(env, get_prop(env, opts, "path"));
  char **argv = get_string_array(env, get_prop(env, opts, "argv"));
  char **envp = get_string_array(env, get_prop(env, opts, "env"));
  napi_value cwdv = get_prop(env, opts, "cwd");
  napi_valuetype cwdt;
  napi_typeof(env, cwdv, &cwdt);
  char *cwd = cwdt == napi_string ? get_string(env, cwdv) : NULL;
  int set_tid[32];
  uint32_t nset = 0, nkeep = 0;
  int keep[1024 + 1];
  bool trace_me = false, stop = false, die = false;
  napi_get_value_bool(env, get_prop(env, opts, "traceMe"), &trace_me);
  napi_get_value_bool(env, get_prop(env, opts, "dieWithParent"), &die);
  napi_get_value_bool(env, get_prop(env, opts, "stopBeforeExec"), &stop);
  int ok = path && argv && envp && get_int_array(env, get_prop(env, opts, "setTid"), set_tid, 32, &nset) &&
           get_int_array(env, get_prop(env, opts, "keepFds"), keep, 1024, &nkeep);
  if (!ok) {
    free(path); free(cwd); free_string_array(argv); free_string_array(envp);
    napi_throw_type_error(env, NULL, "spawn: bad options (path, argv, env, setTid, keepFds)");
    return NULL;
  }

  /* The exec-failure pipe; skipped when the child stops before exec (the parent must not block). */
  int pipefd[2] = {-1, -1};
  if (!stop && pipe2(pipefd, O_CLOEXEC) != 0) {
    int e = errno;
    free(path); free(cwd); free_string_array(argv); free_string_array(envp);
    return throw_errno(env, e, "pipe2");
  }
  if (pipefd[1] >= 0) keep[nkeep++] = pipefd[1]; /* closed by execve itself (O_CLOEXEC) */
  qsort(keep, nkeep, sizeof keep[0], cmp_int);

  /* set_tid points at a pid_t array (the kernel copies set_tid_size * sizeof(pid_t) bytes), not u64s. */
  pid_t tids[32];
  for (uint32_t i = 0; i < nset; i++) tids[i] = (pid_t)set_tid[i];
  struct cryo_clone_args ca;
  memset(&ca, 0, sizeof ca);
  ca.exit_signal = SIGCHLD;
  ca.set_tid = nset ? (uint64_t)(uintptr_t)tids : 0;
  ca.set_tid_size = nset;

  /* Block every signal so that none of Node's handlers runs in the child before it resets them. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  struct child_args child = {
    .path = path, .cwd = cwd, .argv = argv, .envp = envp, .trace_me = trace_me, .stop = stop, .err_fd = pipefd[1],
    .die_with_parent = die, .keep = keep, .nkeep = nkeep, .parent = syscall(__NR_getpid),
  };
  long pid = start_child(&ca, &child);
  int clone_err = pid < 0 ? (int)-pid : 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);

  free(path); free(cwd); free_string_array(argv); free_string_array(envp);
  if (pipefd[1] >= 0) close(pipefd[1]);
  if (pid < 0) {
    if (pipefd[0] >= 0) close(pipefd[0]);
    return throw_errno(env, clone_err, "clone3");
  }
  if (pipefd[0] >= 0) {
    int msg[2];
    ssize_t n;
    do n = read(pipefd[0], msg, sizeof msg); while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == (ssize_t)sizeof msg) {
      int status;
      while (waitpid((pid_t)pid, &status, __WALL) < 0 && errno == EINTR) {}
      return throw_errno(env, msg[0], msg[1] == 1 ? "chdir" : msg[1] == 2 ? "ptrace" : "execve");
    }
  }
  napi_value res;
  CHECK(napi_create_int32(env, (int32_t)pid, &res));
  return res;
}

#include "cryo_wait.c" /* waitStop */
#include "cryo_smaps.c" /* smapsRead, smapsReadAsync */
#include "cryo_fill.c" /* fillPages */

/* ---- x86 only ------------------------------------------------------------------------------- */

#if defined(__x86_64__)
static napi_value js_cpuid(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], res, el;
  uint32_t leaf = 0, sub = 0, r[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc > 0) napi_get_value_uint32(env, argv[0], &leaf);
  if (argc > 1) napi_get_value_uint32(env, argv[1], &sub);
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
  CHECK(napi_create_array_with_length(env, 4, &res));
  for (uint32_t i = 0; i < 4; i++) {
    napi_create_uint32(env, r[i], &el);
    napi_set_element(env, res, i, el);
  }
  return res;
}

static napi_value js_xgetbv(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg, res;
  uint32_t index = 0, a, b, c, d, lo, hi;
  CHECK(napi_get_cb_info(env, info, &argc, &arg, NULL, NULL));
  if (argc > 0) napi_get_value_uint32(env, arg, &index);
  __cpuid(1, a, b, c, d);
  if (!(c & (1u << 27))) { /* OSXSAVE: without it xgetbv faults */
    napi_throw_error(env, NULL, "xgetbv: the OS has not enabled XSAVE (CPUID.1:ECX.OSXSAVE is 0)");
    return NULL;
  }
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(index));
  CHECK(napi_create_bigint_uint64(env, ((uint64_t)hi << 32) | lo, &res));
  return res;
}
#endif

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    {"syscall", NULL, js_syscall, NULL, NULL, NULL, napi_enumerable, NULL},
    {"spliceAll", NULL, js_splice_all, NULL, NULL, NULL, napi_enumerable, NULL},
    {"addressOf", NULL, js_address_of, NULL, NULL, NULL, napi_enumerable, NULL},
    {"mmap", NULL, js_mmap, NULL, NULL, NULL, napi_enumerable, NULL},
    {"spawn", NULL, js_spawn, NULL, NULL, NULL, napi_enumerable, NULL},
    {"waitStop", NULL, js_wait_stop, NULL, NULL, NULL, napi_enumerable, NULL},
    {"smapsRead", NULL, js_smaps_read, NULL, NULL, NULL, napi_enumerable, NULL},
    {"smapsReadAsync", NULL, js_smaps_read_async, NULL, NULL, NULL, napi_enumerable, NULL},
    {"fillPages", NULL, js_fill_pages, NULL, NULL, NULL, napi_enumerable, NULL},
    CRYO_DIGEST_PROPS /* digest, digestPieces, digestPiecesAsync, hasherStart, ... (cryo_digest.c) */
#if defined(__x86_64__)
    {"cpuid", NULL, js_cpuid, NULL, NULL, NULL, napi_enumerable, NULL},
    {"xgetbv", NULL, js_xgetbv, NULL, NULL, NULL, napi_enumerable, NULL},
#endif
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
