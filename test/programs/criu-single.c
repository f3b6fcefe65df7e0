/*
 * criu-single: the state of CRIU 4.2's "single" fixture (fixtures/criu-4.2/src/single.c), in the
 * start protocol of test/helpers/dump-target.ts, so cryo's dump of it can be compared image by
 * image with CRIU's dump of the fixture.
 * Usage: criu-single OUTFILE DIR
 * Its own session with stdio on /dev/null; fd 3 is DIR/single.log opened O_WRONLY|O_APPEND at its
 * end (10 lines); a 1 MiB anonymous region holds a pattern with page 7 never touched; a counter
 * with a check word advances every 10 ms in nanosleep. Writes "READY pid=N" to OUTFILE; on SIGTERM
 * checks all of it and appends "PASS" or "FAIL: reason".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RSZ (1 << 20)
#define PAGE 4096
#define MAGIC 0x5eed5eed5eed5eedULL

static volatile sig_atomic_t term;
static volatile uint64_t counter, check;
static const char *outfile;

static void on_term(int s) { (void)s; term = 1; }

/* Opens OUTFILE for each line, as the fixture does: no descriptor of its own while it is dumped. */
static void say(const char *s)
{
	int fd = open(outfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, s, strlen(s)) < 0) _exit(3);
	close(fd);
}

#define CHECK(c, ...) do { if (!(c)) { char m[256]; snprintf(m, sizeof m, "FAIL: " __VA_ARGS__); say(m); say("\n"); _exit(1); } } while (0)

static uint8_t pattern(size_t i) { return (uint8_t)(i * 13 + 5); }

int main(int argc, char **argv)
{
	if (argc != 3) return 2;
	outfile = argv[1];
	syscall(SYS_close_range, 3, ~0U, 0);
	setsid();
	int null = open("/dev/null", O_RDWR);
	dup2(null, 0); dup2(null, 1); dup2(null, 2);
	if (null > 2) close(null);
	char log[4096];
	snprintf(log, sizeof log, "%s/single.log", argv[2]);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	CHECK(fd == 3, "log fd is %d, want 3", fd);
	for (int i = 0; i < 10; i++) {
		char line[64];
		int n = snprintf(line, sizeof line, "single fixture line %d\n", i);
		CHECK(write(fd, line, n) == n, "write log");
	}
	uint8_t *r = mmap(NULL, RSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r != MAP_FAILED, "mmap");
	for (size_t i = 0; i < RSZ; i++)
		if (i / PAGE != 7) r[i] = pattern(i);
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	counter = 1;
	check = counter ^ MAGIC;
	uint64_t at_ready = counter;
	char ready[64];
	snprintf(ready, sizeof ready, "READY pid=%d\n", getpid());
	say(ready);
	while (!term) {
		counter++;
		check = counter ^ MAGIC;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	CHECK(check == (counter ^ MAGIC), "counter and its check word disagree");
	CHECK(counter > at_ready, "counter did not advance");
	for (size_t i = 0; i < RSZ; i++)
		CHECK(r[i] == (i / PAGE == 7 ? 0 : pattern(i)), "anon byte %zu changed", i);
	CHECK((fcntl(3, F_GETFL) & (O_ACCMODE | O_APPEND)) == (O_WRONLY | O_APPEND), "fd 3 flags %#o", fcntl(3, F_GETFL));
	CHECK(lseek(3, 0, SEEK_CUR) == 220, "fd 3 offset %ld", (long)lseek(3, 0, SEEK_CUR));
	say("PASS\n");
	return 0;
}
