/* rt-write-load: memory that every core is writing while the dump freezes it.
 * usage: rt-write-load OUTFILE DIR
 * One writer thread per online CPU, each sweeping its own 16 MiB of 64-bit slots without pause: in
 * pass g each slot must hold g-1 before it gets g. A page saved at another moment than the thread's
 * registers and the rest of its memory (or a changed byte) is a slot out of step, which the thread
 * counts. READY once every thread has made 3 passes (with writers' region addresses); on SIGTERM
 * each thread must have made more passes since, with nothing out of step. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "rt-check.h"

#define SLOTS ((16u << 20) / sizeof(uint64_t))
#define MAX_WRITERS 64

struct writer {
  uint64_t *slots;
  atomic_long passes;
  atomic_long wrong; /* slots found out of step */
  atomic_long first_wrong; /* the first one's index, -1 while none */
};

static struct writer writers[MAX_WRITERS];
static atomic_int stop;

static void *write_loop(void *arg) {
  struct writer *w = arg;
  for (uint64_t g = 1; !atomic_load_explicit(&stop, memory_order_relaxed); g++) {
    for (size_t i = 0; i < SLOTS; i++) {
      if (w->slots[i] != g - 1) {
        long none = -1;
        atomic_compare_exchange_strong(&w->first_wrong, &none, (long)i);
        atomic_fetch_add(&w->wrong, 1);
      }
      w->slots[i] = g;
    }
    atomic_fetch_add(&w->passes, 1);
  }
  return NULL;
}

static int n;

static int check(void) {
  long start[MAX_WRITERS];
  for (int k = 0; k < n; k++) start[k] = atomic_load(&writers[k].passes);
  for (int k = 0; k < n; k++)
    for (int i = 0; i < 5000 && atomic_load(&writers[k].passes) < start[k] + 2; i++) {
      struct timespec ts = { 0, 1000000 };
      nanosleep(&ts, NULL);
    }
  atomic_store(&stop, 1);
  for (int k = 0; k < n; k++) {
    struct writer *w = &writers[k];
    if (atomic_load(&w->wrong) != 0) FAIL("writer %d found %ld slots out of step, the first at slot %ld", k, atomic_load(&w->wrong), atomic_load(&w->first_wrong));
    if (atomic_load(&w->passes) < start[k] + 2) FAIL("writer %d made %ld passes after the restore, not 2", k, atomic_load(&w->passes) - start[k]);
  }
  return 0;
}

int main(int argc, char **argv) {
  start(argc, argv);
  n = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  if (n > MAX_WRITERS) n = MAX_WRITERS;
  char addrs[MAX_WRITERS * 20] = "";
  for (int k = 0; k < n; k++) {
    writers[k].slots = mmap(NULL, SLOTS * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (writers[k].slots == MAP_FAILED) DIE("mmap");
    atomic_store(&writers[k].first_wrong, -1);
    snprintf(addrs + strlen(addrs), sizeof addrs - strlen(addrs), "%s%p", k ? "," : "", (void *)writers[k].slots);
    pthread_t t;
    if (pthread_create(&t, NULL, write_loop, &writers[k])) DIE("pthread_create");
  }
  for (int k = 0; k < n; k++)
    while (atomic_load(&writers[k].passes) < 3) sched_yield();
  say("READY pid=%d writers=%d regions=%s\n", getpid(), n, addrs);
  rt_wait_term();
  if (check() == 0) say("PASS\n");
  return 0;
}
