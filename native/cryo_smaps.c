/*
 * smapsRead: /proc/PID/smaps read and parsed in C. Part of cryo_sys.c's translation unit (included
 * there).
 *
 * Why: a dump reads smaps inside the freeze for each VMA's VmFlags. A task with 10,000 mappings
 * has ~250,000 smaps lines; cutting them into strings and parsing them in JavaScript took ~95 ms
 * of CPU per read (and the garbage it left), most of the kernel's own time again.
 *
 * What comes back: [records, strings, count], or [undefined, badLine] for a header line that is
 * not `start-end perms offset major:minor inode [name]`. A record is SMAPS_RECORD bytes in this
 * machine's byte order (src/proc/smaps-native.ts reads it): start, end, offset and inode as
 * uint64; Rss, Anonymous, AnonHugePages and Swap in bytes as float64 (-1: no such line); then
 * uint32s: device major and minor, permission bits, the name's and the VmFlags text's offset and
 * length in `strings`, THPeligible (0, 1; 2: no such line), ProtectionKey (0xffffffff: none).
 * VMAs with the same VmFlags text name one copy of it (10,000 mappings have a handful of texts):
 * the reader makes each text's flags once, by its offset. smapsReadAsync does the same on libuv's
 * thread pool: a dump starts it as the task is frozen and works on meanwhile.
 */
#define SMAPS_RECORD 128
#define SMAPS_CHUNK (256 << 10)

enum { SM_START, SM_END, SM_OFFSET, SM_INODE };                 /* uint64 slots */
enum { SM_RSS = 4, SM_ANON, SM_AHP, SM_SWAP };                  /* float64 slots */
enum { SM_MAJOR = 16, SM_MINOR, SM_PERMS, SM_NAME_OFF, SM_NAME_LEN, SM_FLAGS_OFF, SM_FLAGS_LEN, SM_THP, SM_PKEY }; /* uint32 slots */

struct grow {
  char *data;
  size_t len, cap;
};

static int grow_put(struct grow *g, const void *p, size_t n) {
  if (g->len + n > g->cap) {
    size_t cap = g->cap ? g->cap : 64 << 10;
    while (cap < g->len + n) cap *= 2;
    char *d = realloc(g->data, cap);
    if (!d) return 0;
    g->data = d;
    g->cap = cap;
  }
  memcpy(g->data + g->len, p, n);
  g->len += n;
  return 1;
}

/* The VmFlags texts met so far, by hash: where each is in `strings`. */
#define FLAGS_SLOTS 4096
struct flags_seen {
  uint32_t off[FLAGS_SLOTS], len[FLAGS_SLOTS];
  unsigned char used[FLAGS_SLOTS];
};

/* The offset in strings of text v[0, n): an earlier copy, or a new one; UINT32_MAX without memory. */
static uint32_t flags_text(struct flags_seen *seen, struct grow *strings, const char *v, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)v[i]) * 16777619u;
  uint32_t slot = h % FLAGS_SLOTS;
  for (int probe = 0; probe < 8; probe++, slot = (slot + 1) % FLAGS_SLOTS) {
    if (!seen->used[slot]) break;
    if (seen->len[slot] == n && memcmp(strings->data + seen->off[slot], v, n) == 0) return seen->off[slot];
  }
  uint32_t off = (uint32_t)strings->len;
  if (!grow_put(strings, v, n)) return UINT32_MAX;
  if (!seen->used[slot]) {
    seen->used[slot] = 1;
    seen->off[slot] = off;
    seen->len[slot] = (uint32_t)n;
  }
  return off;
}

static int hex_digit(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

/* Lowercase hex s[0, n) into *v (at most 16 digits); 0 if it is not that. */
static int hex_u64(const char *s, size_t n, uint64_t *v) {
  if (n == 0 || n > 16) return 0;
  uint64_t r = 0;
  for (size_t i = 0; i < n; i++) {
    int d = hex_digit(s[i]);
    if (d < 0) return 0;
    r = r << 4 | (uint64_t)d;
  }
  *v = r;
  return 1;
}

/* Decimal s[0, n) into *v; 0 if it is not that. */
static int dec_u64(const char *s, size_t n, uint64_t *v) {
  if (n == 0 || n > 20) return 0;
  uint64_t r = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    r = r * 10 + (uint64_t)(s[i] - '0');
  }
  *v = r;
  return 1;
}

/* The next space in [s, end), or end. */
static const char *space_in(const char *s, const char *end) {
  const char *p = memchr(s, ' ', (size_t)(end - s));
  return p ? p : end;
}

/* A header line into rec (its name into strings); 0 if the line is not one. */
static int smaps_header(const char *l, const char *end, unsigned char *rec, struct grow *strings) {
  uint64_t *u64 = (uint64_t *)rec;
  uint32_t *u32 = (uint32_t *)rec;
  double *f64 = (double *)rec;
  const char *dash = memchr(l, '-', (size_t)(end - l));
  if (!dash || dash == l) return 0;
  const char *after_end = space_in(dash + 1, end);
  if (end - after_end < 6 || after_end[5] != ' ') return 0;
  const char *perm = after_end + 1;
  if ((perm[0] != 'r' && perm[0] != '-') || (perm[1] != 'w' && perm[1] != '-') || (perm[2] != 'x' && perm[2] != '-') || (perm[3] != 's' && perm[3] != 'p')) return 0;
  const char *off = after_end + 6;
  const char *after_off = space_in(off, end);
  const char *colon = after_off < end ? memchr(after_off + 1, ':', (size_t)(end - after_off - 1)) : NULL;
  if (!colon) return 0;
  const char *after_dev = space_in(colon + 1, end);
  if (after_dev >= end) return 0;
  const char *after_inode = space_in(after_dev + 1, end);
  uint64_t major, minor;
  if (!hex_u64(l, (size_t)(dash - l), &u64[SM_START]) || !hex_u64(dash + 1, (size_t)(after_end - dash - 1), &u64[SM_END])
      || !hex_u64(off, (size_t)(after_off - off), &u64[SM_OFFSET]) || !hex_u64(after_off + 1, (size_t)(colon - after_off - 1), &major)
      || !hex_u64(colon + 1, (size_t)(after_dev - colon - 1), &minor) || !dec_u64(after_dev + 1, (size_t)(after_inode - after_dev - 1), &u64[SM_INODE])
      || major > 0xffffffffu || minor > 0xffffffffu) return 0;
  u32[SM_MAJOR] = (uint32_t)major;
  u32[SM_MINOR] = (uint32_t)minor;
  u32[SM_PERMS] = (perm[0] == 'r') | (perm[1] == 'w') << 1 | (perm[2] == 'x') << 2 | (perm[3] == 's') << 3;
  const char *name = after_inode;
  while (name < end && *name == ' ') name++;
  u32[SM_NAME_OFF] = (uint32_t)strings->len;
  u32[SM_NAME_LEN] = (uint32_t)(end - name);
  if (!grow_put(strings, name, (size_t)(end - name))) return -1;
  for (int i = SM_RSS; i <= SM_SWAP; i++) f64[i] = -1;
  u32[SM_FLAGS_OFF] = u32[SM_FLAGS_LEN] = 0;
  u32[SM_THP] = 2;
  u32[SM_PKEY] = 0xffffffffu;
  return 1;
}

/* `Key:` at the start of [l, end)? Then the value's start, blanks skipped; else NULL. */
static const char *smaps_key(const char *l, const char *end, const char *key, size_t n) {
  if ((size_t)(end - l) <= n || memcmp(l, key, n) != 0 || l[n] != ':') return NULL;
  const char *v = l + n + 1;
  while (v < end && *v == ' ') v++;
  return v;
}

/* A `Key: N kB` value in bytes into *slot, when the line is one. */
static void smaps_size(const char *v, const char *end, double *slot) {
  uint64_t kb;
  if (end - v > 3 && memcmp(end - 3, " kB", 3) == 0 && dec_u64(v, (size_t)(end - 3 - v), &kb)) *slot = (double)kb * 1024;
}

/* One field line into the current record. 0: an unexpected line (before any header); -1: no memory. */
static int smaps_field(const char *l, const char *end, unsigned char *rec, struct grow *strings, struct flags_seen *seen) {
  if (!rec) return 0;
  uint32_t *u32 = (uint32_t *)rec;
  double *f64 = (double *)rec;
  const char *v;
  switch (l[0]) {
    case 'V':
      if ((v = smaps_key(l, end, "VmFlags", 7))) {
        uint32_t off = flags_text(seen, strings, v, (size_t)(end - v));
        if (off == UINT32_MAX) return -1;
        u32[SM_FLAGS_OFF] = off;
        u32[SM_FLAGS_LEN] = (uint32_t)(end - v);
      }
      break;
    case 'T':
      if ((v = smaps_key(l, end, "THPeligible", 11))) {
        while (end > v && end[-1] == ' ') end--;
        u32[SM_THP] = end - v == 1 && *v == '1';
      }
      break;
    case 'P': {
      uint64_t k;
      if ((v = smaps_key(l, end, "ProtectionKey", 13))) {
        while (end > v && end[-1] == ' ') end--;
        if (dec_u64(v, (size_t)(end - v), &k) && k < 0xffffffffu) u32[SM_PKEY] = (uint32_t)k;
      }
      break;
    }
    case 'R': if ((v = smaps_key(l, end, "Rss", 3))) smaps_size(v, end, &f64[SM_RSS]); break;
    case 'A':
      if ((v = smaps_key(l, end, "Anonymous", 9))) smaps_size(v, end, &f64[SM_ANON]);
      else if ((v = smaps_key(l, end, "AnonHugePages", 13))) smaps_size(v, end, &f64[SM_AHP]);
      break;
    case 'S': if ((v = smaps_key(l, end, "Swap", 4))) smaps_size(v, end, &f64[SM_SWAP]); break;
    default: break;
  }
  return 1;
}

/* One read of smaps: its records and strings, or the line it could not take, or an errno. */
struct smaps_read {
  struct grow recs, strings;
  size_t count;
  char *bad; /* the unexpected line (malloc'd), when there was one */
  size_t bad_len;
  int err;
};

static void smaps_read_free(struct smaps_read *r) {
  free(r->recs.data);
  free(r->strings.data);
  free(r->bad);
}

/* Reads and parses the smaps (or maps) text at `path` into *r; touches no JavaScript (thread pool safe). */
static void smaps_collect(const char *path, struct smaps_read *r) {
  int fd;
  do fd = open(path, O_RDONLY | O_CLOEXEC); while (fd < 0 && errno == EINTR);
  if (fd < 0) { r->err = errno; return; }
  char *buf = malloc(SMAPS_CHUNK);
  struct flags_seen *seen = calloc(1, sizeof *seen);
  size_t have = 0;
  int err = buf && seen ? 0 : ENOMEM, bad = 0;
  while (!err && !bad) {
    if (have == SMAPS_CHUNK) { err = E2BIG; break; } /* a line longer than the chunk */
    ssize_t n;
    do n = read(fd, buf + have, SMAPS_CHUNK - have); while (n < 0 && errno == EINTR);
    if (n < 0) { err = errno; break; }
    size_t end = have + (size_t)n, at = 0;
    for (;;) {
      char *nl = memchr(buf + at, '\n', end - at);
      size_t stop = nl ? (size_t)(nl - buf) : end;
      if (!nl && (n != 0 || at >= end)) break; /* the rest comes with the next read */
      const char *l = buf + at, *le = buf + stop;
      if (le > l) {
        int res;
        if (hex_digit(*l) >= 0) {
          uint64_t rec[SMAPS_RECORD / 8]; /* aligned for its uint64 and float64 slots */
          memset(rec, 0, sizeof rec);
          res = smaps_header(l, le, (unsigned char *)rec, &r->strings);
          if (res > 0 && !grow_put(&r->recs, rec, sizeof rec)) res = -1;
          if (res > 0) r->count++;
        } else {
          res = smaps_field(l, le, r->count ? (unsigned char *)r->recs.data + (r->count - 1) * SMAPS_RECORD : NULL, &r->strings, seen);
        }
        if (res < 0) { err = ENOMEM; break; }
        if (res == 0) {
          bad = 1;
          r->bad_len = (size_t)(le - l);
          if (!(r->bad = malloc(r->bad_len + 1))) err = ENOMEM;
          else memcpy(r->bad, l, r->bad_len);
          break;
        }
      }
      at = stop + 1;
    }
    if (err || bad || n == 0) break;
    memmove(buf, buf + at, end - at);
    have = end - at;
  }
  close(fd);
  free(buf);
  free(seen);
  r->err = err;
}

/* smapsRead's answer for *r: [records, strings, count] or [undefined, badLine]; NULL with *err set when it cannot be made. */
static napi_value smaps_result(napi_env env, struct smaps_read *r, int *err) {
  napi_value res, el;
  void *data;
  *err = r->err;
  if (*err) return NULL;
  if (napi_create_array_with_length(env, 3, &res) != napi_ok) { *err = ENOMEM; return NULL; }
  if (r->bad) {
    napi_get_undefined(env, &el);
    napi_set_element(env, res, 0, el);
    napi_create_string_utf8(env, r->bad, r->bad_len, &el);
    napi_set_element(env, res, 1, el);
    return res;
  }
  if (napi_create_buffer_copy(env, r->recs.len, r->recs.len ? r->recs.data : "", &data, &el) != napi_ok) { *err = ENOMEM; return NULL; }
  napi_set_element(env, res, 0, el);
  if (napi_create_buffer_copy(env, r->strings.len, r->strings.len ? r->strings.data : "", &data, &el) != napi_ok) { *err = ENOMEM; return NULL; }
  napi_set_element(env, res, 1, el);
  napi_create_uint32(env, (uint32_t)r->count, &el);
  napi_set_element(env, res, 2, el);
  return res;
}

/* The path argument of smapsRead(Async); 0 (a TypeError thrown) if it is not one. */
static int smaps_path(napi_env env, napi_value arg, char *path, size_t size) {
  size_t len;
  if (napi_get_value_string_utf8(env, arg, path, size, &len) != napi_ok || len >= size - 1) {
    napi_throw_type_error(env, NULL, "smapsRead(path): a path shorter than 255 bytes");
    return 0;
  }
  return 1;
}

static napi_value js_smaps_read(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  char path[256];
  CHECK(napi_get_cb_info(env, info, &argc, &arg, NULL, NULL));
  if (argc < 1) napi_get_undefined(env, &arg);
  if (!smaps_path(env, arg, path, sizeof path)) return NULL;
  struct smaps_read r = {0};
  smaps_collect(path, &r);
  int err;
  napi_value res = smaps_result(env, &r, &err);
  smaps_read_free(&r);
  if (err) return throw_errno(env, err, err == E2BIG ? "smapsRead (a line too long)" : "read");
  return res;
}

/* One smapsReadAsync call: read and parsed on libuv's thread pool. */
struct smaps_job {
  napi_async_work work;
  napi_ref cb_ref;
  char path[256];
  struct smaps_read r;
};

static void smaps_job_execute(napi_env env, void *data) {
  (void)env;
  struct smaps_job *job = data;
  smaps_collect(job->path, &job->r);
}

static void smaps_job_complete(napi_env env, napi_status status, void *data) {
  struct smaps_job *job = data;
  napi_value cb, undef, args[2];
  int err = ECANCELED;
  napi_value res = status == napi_ok ? smaps_result(env, &job->r, &err) : NULL;
  if (napi_get_reference_value(env, job->cb_ref, &cb) == napi_ok && napi_get_undefined(env, &undef) == napi_ok &&
      napi_create_int32(env, res ? 0 : err ? err : ENOMEM, &args[0]) == napi_ok) {
    args[1] = res ? res : undef;
    napi_call_function(env, undef, cb, 2, args, NULL);
  }
  napi_delete_reference(env, job->cb_ref);
  napi_delete_async_work(env, job->work);
  smaps_read_free(&job->r);
  free(job);
}

/* smapsReadAsync(path, callback(errno, result)): smapsRead on the thread pool; result as smapsRead's (errno 0). */
static napi_value js_smaps_read_async(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], name;
  napi_valuetype cbType;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_typeof(env, argv[1], &cbType) != napi_ok || cbType != napi_function) {
    napi_throw_type_error(env, NULL, "smapsReadAsync(path, callback)");
    return NULL;
  }
  struct smaps_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM, "malloc");
  if (!smaps_path(env, argv[0], job->path, sizeof job->path)) {
    free(job);
    return NULL;
  }
  CHECK(napi_create_reference(env, argv[1], 1, &job->cb_ref));
  CHECK(napi_create_string_utf8(env, "cryo:smaps", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, smaps_job_execute, smaps_job_complete, job, &job->work));
  CHECK(napi_queue_async_work(env, job->work));
  return NULL;
}
