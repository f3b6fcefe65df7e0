/* rt-check.h: rt.h's frame for programs written as `int check(void)` that returns 1 after a
 * FAIL line (main then writes PASS when it returns 0). */
#ifndef RT_CHECK_H
#define RT_CHECK_H
#include "rt.h"

#define term rt_term
#define say rt_say
#define FAIL(...) do { say("FAIL: " __VA_ARGS__); say("\n"); return 1; } while (0)
#define DIE(what) do { say("FAIL: %s: %s\n", what, strerror(errno)); _exit(1); } while (0)

static void start(int argc, char **argv) { rt_start(argc, argv); }

/* READY, then sleep in 10 ms steps until SIGTERM. */
__attribute__((unused)) static void ready_and_wait(void) {
  say("READY pid=%d\n", getpid());
  rt_wait_term();
}
#endif
