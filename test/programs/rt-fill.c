/* rt-fill: a large memory, every word distinct, comes back byte for byte (restore's page fill).
 * usage: rt-fill OUTFILE DIR [MODE] MIB
 * MIB MiB spread over: a private anonymous mapping left writable; one made read-only after it was
 * written; one with every third page never touched and its second half made read-only; a
 * MAP_SHARED anonymous mapping whose last quarter is made read-only. Each 8-byte word holds a
 * mix of its address and its mapping's salt.
 * READY rw= ro= holey= shared= (addresses) bytes=; on SIGTERM checks every word (untouched
 * pages zero) and names the first that differs, then each part's protection. */
#include "rt.h"
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

static long PG;

static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct area {
  const char *name;
  uint64_t *p;
  size_t len;
  uint64_t salt;
  int holes; /* every third page untouched */
};

static int untouched(const struct area *a, size_t page) { return a->holes && page % 3 == 1; }

static void fill(struct area *a) {
  size_t words = (size_t)PG / 8;
  for (size_t pg = 0; pg < a->len / (size_t)PG; pg++) {
    if (untouched(a, pg)) continue;
    uint64_t *w = a->p + pg * words;
    for (size_t i = 0; i < words; i++) w[i] = mix((uint64_t)(uintptr_t)&w[i] ^ a->salt);
  }
}

static void check(const struct area *a) {
  size_t words = (size_t)PG / 8;
  for (size_t pg = 0; pg < a->len / (size_t)PG; pg++) {
    const uint64_t *w = a->p + pg * words;
    for (size_t i = 0; i < words; i++) {
      uint64_t want = untouched(a, pg) ? 0 : mix((uint64_t)(uintptr_t)&w[i] ^ a->salt);
      RT_CHECK(w[i] == want, "%s word %zu of page %zu (at %p) is %016llx, not %016llx", a->name, i, pg, (void *)&w[i],
               (unsigned long long)w[i], (unsigned long long)want);
    }
  }
}

/* The permissions /proc/self/maps gives the mapping holding `at` ("rw-p"...). */
static void perms_at(const void *at, char out[5]) {
  FILE *f = fopen("/proc/self/maps", "re");
  char line[512];
  strcpy(out, "none");
  while (f && fgets(line, sizeof line, f)) {
    unsigned long s, e;
    char perms[5];
    if (sscanf(line, "%lx-%lx %4s", &s, &e, perms) == 3 && (uintptr_t)at >= s && (uintptr_t)at < e) {
      memcpy(out, perms, 5);
      break;
    }
  }
  if (f) fclose(f);
}

static void want_perms(const char *what, const void *at, const char *want) {
  char have[5];
  perms_at(at, have);
  RT_CHECK(strcmp(have, want) == 0, "%s at %p is %s, not %s", what, at, have, want);
}

static uint64_t *map(size_t len, int flags) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
  RT_CHECK(p != MAP_FAILED, "mmap %zu bytes: %s", len, strerror(errno));
  return p;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  PG = sysconf(_SC_PAGESIZE);
  size_t mib = argc > 4 ? strtoul(argv[4], NULL, 10) : 64;
  size_t total = mib << 20, unit = total / 8 / (size_t)PG * (size_t)PG;
  struct area areas[] = {
    {"rw", map(3 * unit, MAP_PRIVATE), 3 * unit, 1, 0},
    {"ro", map(2 * unit, MAP_PRIVATE), 2 * unit, 2, 0},
    {"holey", map(2 * unit, MAP_PRIVATE), 2 * unit, 3, 1},
    {"shared", map(unit, MAP_SHARED), unit, 4, 0},
  };
  for (int i = 0; i < 4; i++) fill(&areas[i]);
  RT_CHECK(mprotect(areas[1].p, areas[1].len, PROT_READ) == 0, "mprotect ro: %s", strerror(errno));
  RT_CHECK(mprotect((char *)areas[2].p + unit, unit, PROT_READ) == 0, "mprotect holey: %s", strerror(errno));
  RT_CHECK(mprotect((char *)areas[3].p + unit / 4 * 3 / (size_t)PG * (size_t)PG, unit / 4, PROT_READ) == 0, "mprotect shared: %s", strerror(errno));
  rt_ready("rw=%p ro=%p holey=%p shared=%p bytes=%zu\n", (void *)areas[0].p, (void *)areas[1].p, (void *)areas[2].p, (void *)areas[3].p, 8 * unit);
  rt_wait_term();
  for (int i = 0; i < 4; i++) check(&areas[i]);
  /* The protections as they were. */
  want_perms("rw", areas[0].p, "rw-p");
  want_perms("ro", areas[1].p, "r--p");
  want_perms("holey's first half", areas[2].p, "rw-p");
  want_perms("holey's second half", (char *)areas[2].p + unit, "r--p");
  want_perms("shared", areas[3].p, "rw-s");
  want_perms("shared's last quarter", (char *)areas[3].p + unit - 1, "r--s");
  rt_pass();
}
