/* restore-counter: state for a dump -> kill -> restore round trip.
 * usage: restore-counter OUTFILE DIR (rt.h's frame: READY pid=PID, then PASS or FAIL: reason)
 * Becomes a session leader with stdio on /dev/null, opens DIR/data (fd 7, "hello", offset 2),
 * fills a 64 KiB anonymous region (one page read-only), installs a SIGUSR1 handler (SA_RESTART),
 * blocks SIGUSR2, then counts every 10 ms. SIGUSR1 (the test sends it after the restore) notes the
 * count; 20 counts later the program writes DIR/counted, so counting on after the restore is proven
 * by the count itself, not by a wait. On SIGTERM it checks all of it. */
#include "rt.h"
#include <sys/mman.h>

#define RSZ (64 * 1024)
static volatile unsigned long counter, at_usr1;
static volatile sig_atomic_t got_usr1;

#define AFTER_USR1 20

static void on_usr1(int s) { (void)s; at_usr1 = counter; got_usr1 = 1; }

#define CHECK RT_CHECK

int main(int argc, char **argv)
{
	rt_start(argc, argv);
	char data[1024];
	snprintf(data, sizeof data, "%s/data", argv[2]);
	int fd = open(data, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || dup2(fd, 7) != 7) return 3;
	close(fd);
	fd = 7;
	if (write(fd, "hello", 5) != 5 || lseek(fd, 2, SEEK_SET) != 2) return 4;
	unsigned char *r = mmap(NULL, RSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < RSZ; i++) r[i] = (unsigned char)(i * 7 + 3);
	mprotect(r + 4096, 4096, PROT_READ);
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t b; sigemptyset(&b); sigaddset(&b, SIGUSR2);
	sigprocmask(SIG_BLOCK, &b, NULL);
	pid_t me = getpid();
	char counted[1024];
	snprintf(counted, sizeof counted, "%s/counted", argv[2]);
	int said = 0;
	rt_ready("pid=%d\n", me);
	while (!rt_term) {
		counter++;
		if (got_usr1 && !said && counter >= at_usr1 + AFTER_USR1) {
			int c = open(counted, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
			if (c >= 0) close(c);
			said = 1;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	CHECK(got_usr1, "no SIGUSR1 came");
	CHECK(counter >= at_usr1 + AFTER_USR1, "counted %lu times after SIGUSR1, want %d", counter - at_usr1, AFTER_USR1);
	CHECK(at_usr1 > 0, "the count started again from 0");
	CHECK(getpid() == me, "pid %d, want %d", getpid(), me);
	for (int i = 0; i < RSZ; i++) CHECK(r[i] == (unsigned char)(i * 7 + 3), "region byte %d", i);
	CHECK(lseek(fd, 0, SEEK_CUR) == 2, "fd 7 offset %ld", (long)lseek(fd, 0, SEEK_CUR));
	char buf[8] = {0};
	CHECK(pread(fd, buf, 5, 0) == 5 && memcmp(buf, "hello", 5) == 0, "fd 7 content");
	CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR, "fd 7 flags");
	struct sigaction cur;
	sigaction(SIGUSR1, NULL, &cur);
	CHECK(cur.sa_handler == on_usr1 && (cur.sa_flags & SA_RESTART), "SIGUSR1 action");
	sigset_t now; sigprocmask(SIG_BLOCK, NULL, &now);
	CHECK(sigismember(&now, SIGUSR2) && !sigismember(&now, SIGTERM), "signal mask");
	CHECK(getsid(0) == me, "session %d", getsid(0));
	rt_pass();
}
