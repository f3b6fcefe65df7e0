/* rt-sig: signal state comes back exactly as it was.
 * usage: rt-sig OUTFILE DIR [trap-ignored]
 * Handlers with SA_SIGINFO|SA_RESTART (+mask), SA_ONSTACK|SA_NODEFER, SA_RESETHAND, SIG_IGN; a
 * SIGTRAP handler (SIG_IGN with trap-ignored), which the kernel resets when it raises a blocked or
 * ignored SIGTRAP itself (as a breakpoint does);
 * blocked SIGUSR1, SIGQUIT, SIGRTMIN+3; pending: SIGUSR1 (process-wide, sigqueue value 1111),
 * SIGQUIT (process-wide, kill), SIGRTMIN+3 twice (thread, values 2222 and 3333); an alternate
 * signal stack. On SIGTERM: every kernel sigaction (handler, flags, restorer, mask) as at READY,
 * the mask, the pending set, the altstack; then unblocks and checks delivery order and values,
 * a handler running on the altstack, and SA_RESETHAND resetting after one delivery. */
#include "rt.h"
#include <stdint.h>

/* The kernel's struct sigaction for rt_sigaction in this ABI (ia32: 32-bit words, the mask right after). */
struct ksigaction { unsigned long handler, flags, restorer; uint64_t mask; } __attribute__((packed));
static struct ksigaction acts0[65];
static char altstack[64 * 1024];
static volatile int usr1_value, rt_values[4], rt_count, usr2_on_altstack = -1, hup_count;

static void on_usr1(int s, siginfo_t *si, void *uc) { (void)s; (void)uc; usr1_value = si->si_code == SI_QUEUE ? si->si_value.sival_int : -1; }
static void on_rt(int s, siginfo_t *si, void *uc) { (void)s; (void)uc; if (rt_count < 4) rt_values[rt_count] = si->si_value.sival_int; rt_count++; }
static void on_usr2(int s) {
  char here;
  (void)s;
  usr2_on_altstack = &here >= altstack && &here < altstack + sizeof altstack;
}
static void on_hup(int s) { (void)s; hup_count++; }
static volatile int trap_count;
static void on_trap(int s) { (void)s; trap_count++; }

static void kget(int sig, struct ksigaction *k) { syscall(SYS_rt_sigaction, sig, NULL, k, 8); }

static void set(int sig, void *fn, int flags, int masked) {
  struct sigaction sa = { .sa_flags = flags };
  if (flags & SA_SIGINFO) sa.sa_sigaction = fn; else sa.sa_handler = fn;
  sigemptyset(&sa.sa_mask);
  if (masked) sigaddset(&sa.sa_mask, masked);
  sigaction(sig, &sa, NULL);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  int rt3 = SIGRTMIN + 3;
  set(SIGUSR1, on_usr1, SA_SIGINFO | SA_RESTART, SIGUSR2);
  set(SIGUSR2, on_usr2, SA_ONSTACK | SA_NODEFER, 0);
  set(SIGHUP, on_hup, SA_RESETHAND, 0);
  set(rt3, on_rt, SA_SIGINFO, SIGINT);
  signal(SIGWINCH, SIG_IGN);
  int trap_ignored = argc > 3 && !strcmp(argv[3], "trap-ignored");
  if (trap_ignored) signal(SIGTRAP, SIG_IGN); else set(SIGTRAP, on_trap, 0, 0);
  stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack };
  sigaltstack(&ss, NULL);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1); sigaddset(&block, SIGQUIT); sigaddset(&block, rt3);
  sigprocmask(SIG_BLOCK, &block, NULL);
  sigset_t mask0;
  sigprocmask(SIG_BLOCK, NULL, &mask0);
  sigqueue(getpid(), SIGUSR1, (union sigval){ .sival_int = 1111 });
  kill(getpid(), SIGQUIT);
  siginfo_t si = { .si_signo = rt3, .si_code = SI_QUEUE, .si_pid = getpid(), .si_uid = getuid() };
  si.si_value.sival_int = 2222;
  syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), rt3, &si);
  si.si_value.sival_int = 3333;
  syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), rt3, &si);
  for (int s = 1; s <= 64; s++) kget(s, &acts0[s]);

  rt_ready("altstack=%p\n", (void *)altstack);
  rt_wait_term();

  for (int s = 1; s <= 64; s++) {
    struct ksigaction k;
    kget(s, &k);
    RT_CHECK(!memcmp(&k, &acts0[s], sizeof k), "signal %d action differs: handler %#llx flags %#llx restorer %#llx mask %#llx, want %#llx %#llx %#llx %#llx", s,
             (unsigned long long)k.handler, (unsigned long long)k.flags, (unsigned long long)k.restorer, (unsigned long long)k.mask,
             (unsigned long long)acts0[s].handler, (unsigned long long)acts0[s].flags, (unsigned long long)acts0[s].restorer, (unsigned long long)acts0[s].mask);
  }
  sigset_t now;
  sigprocmask(SIG_BLOCK, NULL, &now);
  for (int s = 1; s <= 64; s++)
    RT_CHECK(sigismember(&now, s) == sigismember(&mask0, s), "signal %d is %sblocked", s, sigismember(&now, s) ? "" : "not ");
  sigset_t pend;
  sigpending(&pend);
  RT_CHECK(sigismember(&pend, SIGUSR1), "SIGUSR1 is not pending");
  RT_CHECK(sigismember(&pend, SIGQUIT), "SIGQUIT is not pending");
  RT_CHECK(sigismember(&pend, rt3), "SIGRTMIN+3 is not pending");
  stack_t cur;
  sigaltstack(NULL, &cur);
  RT_CHECK(cur.ss_sp == altstack && cur.ss_size == sizeof altstack && cur.ss_flags == 0, "altstack %p size %zu flags %d, want %p %zu 0",
           cur.ss_sp, cur.ss_size, cur.ss_flags, (void *)altstack, sizeof altstack);

  sigset_t un;
  sigemptyset(&un);
  sigaddset(&un, SIGUSR1); sigaddset(&un, rt3);
  sigprocmask(SIG_UNBLOCK, &un, NULL);
  RT_CHECK(usr1_value == 1111, "SIGUSR1 arrived with value %d, want 1111 (sigqueue)", usr1_value);
  RT_CHECK(rt_count == 2 && rt_values[0] == 2222 && rt_values[1] == 3333, "SIGRTMIN+3 arrived %d times (values %d, %d), want 2222 then 3333",
           rt_count, rt_values[0], rt_values[1]);
  raise(SIGUSR2);
  RT_CHECK(usr2_on_altstack == 1, "the SA_ONSTACK handler ran %s", usr2_on_altstack == 0 ? "on the normal stack" : "not at all");
  raise(SIGHUP);
  struct ksigaction k;
  kget(SIGHUP, &k);
  RT_CHECK(hup_count == 1 && k.handler == 0, "SA_RESETHAND: the SIGHUP handler ran %d times and is %#llx after", hup_count, (unsigned long long)k.handler);
  raise(SIGTRAP);
  RT_CHECK(trap_count == !trap_ignored, "the SIGTRAP handler ran %d times", trap_count);
  rt_pass();
}
