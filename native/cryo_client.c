/*
 * cryo-client ARGS...: runs `cryo ARGS...` in a resident `cryo service` when one answers, else
 * execs the Node CLI (the same command line, with Node's start). scripts/build-native.mjs builds it
 * as build/cryo, the package's bin.
 *
 * The service's socket: CRYO_SERVICE=PATH, else /run/cryo/service.sock for root and
 * /run/user/UID/cryo/service.sock for another user (src/cli/service/address.ts: the same rule);
 * CRYO_SERVICE=off runs the CLI always.
 *
 * Wire (a unix stream socket):
 *   client -> service: "CRYOSVC1", u32 body length, u32 3 (native byte order) with SCM_RIGHTS
 *     carrying the client's fds 0, 1 and 2; then the body: u32 argc, u32 envc, then cwd, each
 *     argument and each environment string, NUL-terminated. Later, one line "signal N\n" for each
 *     terminating signal the client gets (the command is interrupted as the CLI's would be).
 *   service -> client: one line: "exit N" (the command's status), "signal N" (the CLI would have
 *     died by signal N: the client does so), "fallback" (the command must run in the caller's own
 *     process: the client execs the CLI) or "refused TEXT" (printed, status 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef CRYO_NODE
#define CRYO_NODE "node"
#endif

extern char **environ;

static int sock = -1;

/* The signals the CLI catches while it works (src/cli/signals.ts); each is passed on. */
static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU,
                                 SIGXFSZ, SIGTRAP, SIGABRT, SIGSYS, SIGPOLL, SIGPWR, SIGSTKFLT };
#define NFORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

/* The Node CLI beside this program: <dir>/../dist/cryo-cli.cjs. */
static void run_cli(char **argv) {
  char self[PATH_MAX], cli[PATH_MAX + 32];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) {
    fprintf(stderr, "cryo: cannot find this program's path (/proc/self/exe): is /proc mounted?\n");
    exit(1);
  }
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (slash) *slash = 0;
  snprintf(cli, sizeof(cli), "%s/../dist/cryo-cli.cjs", self);
  int argc = 0;
  while (argv[argc]) argc++;
  char **args = calloc(argc + 3, sizeof(char *));
  if (!args) exit(1);
  args[0] = "node";
  args[1] = cli;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  execv(CRYO_NODE, args); /* the Node that built cryo */
  execvp("node", args);
  fprintf(stderr, "cryo: cannot run node (%s, or node on PATH): %s: install Node.js 20 or later\n", CRYO_NODE, strerror(errno));
  exit(127);
}

static int default_address(char *out, size_t size) {
  const char *env = getenv("CRYO_SERVICE");
  if (env && *env) return snprintf(out, size, "%s", env) < (int)size ? 0 : -1;
  if (getuid() == 0) return snprintf(out, size, "/run/cryo/service.sock") < (int)size ? 0 : -1;
  return snprintf(out, size, "/run/user/%u/cryo/service.sock", (unsigned)getuid()) < (int)size ? 0 : -1;
}

static int connect_to(const char *path) {
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof(sa.sun_path)) return -1;
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_all(const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = send(sock, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= n;
  }
  return 0;
}

/* The header with the three standard descriptors, then the body. */
static int send_request(int argc, char **argv) {
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof(cwd))) strcpy(cwd, "/");
  uint32_t envc = 0;
  size_t len = 8 + strlen(cwd) + 1;
  for (int i = 1; i < argc; i++) len += strlen(argv[i]) + 1;
  for (char **e = environ; *e; e++, envc++) len += strlen(*e) + 1;
  char *body = malloc(len), *p = body;
  if (!body) return -1;
  uint32_t nargs = argc - 1;
  memcpy(p, &nargs, 4);
  memcpy(p + 4, &envc, 4);
  p += 8;
  p = stpcpy(p, cwd) + 1;
  for (int i = 1; i < argc; i++) p = stpcpy(p, argv[i]) + 1;
  for (char **e = environ; *e; e++) p = stpcpy(p, *e) + 1;

  char head[16] = "CRYOSVC1";
  uint32_t blen = len, nfds = 3;
  memcpy(head + 8, &blen, 4);
  memcpy(head + 12, &nfds, 4);
  int fds[3] = { 0, 1, 2 };
  union { char buf[CMSG_SPACE(sizeof(fds))]; struct cmsghdr align; } control;
  memset(&control, 0, sizeof(control));
  struct iovec iov = { head, sizeof(head) };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof(control.buf) };
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(fds));
  memcpy(CMSG_DATA(c), fds, sizeof(fds));
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
  int r = n == (ssize_t)sizeof(head) ? send_all(body, len) : -1;
  free(body);
  return r;
}

/* A terminating signal: the service interrupts the command (send is async-signal-safe). */
static void pass_on(int sig) {
  char line[32];
  int n = snprintf(line, sizeof(line), "signal %d\n", sig);
  int saved = errno;
  if (send(sock, line, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) { /* the service is gone: its end says so */ }
  errno = saved;
}

/* The service's one line (at most 4 KiB). */
static int read_reply(char *line, size_t size) {
  size_t have = 0;
  while (have < size - 1) {
    ssize_t n = read(sock, line + have, size - 1 - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += n;
    if (memchr(line, '\n', have)) break;
  }
  line[have] = 0;
  char *nl = strchr(line, '\n');
  if (!nl) return -1;
  *nl = 0;
  return 0;
}

int main(int argc, char **argv) {
  char address[PATH_MAX];
  const char *env = getenv("CRYO_SERVICE");
  /* `cryo service` itself, and no service wanted or named: the CLI. */
  if ((env && strcmp(env, "off") == 0) || (argc > 1 && strcmp(argv[1], "service") == 0) || default_address(address, sizeof(address)) < 0) run_cli(argv);
  sock = connect_to(address);
  if (sock < 0) run_cli(argv);
  signal(SIGPIPE, SIG_IGN);
  char line[4096];
  if (send_request(argc, argv) < 0) {
    /* Refused before the service read the command: its reason is waiting. */
    if (read_reply(line, sizeof(line)) == 0 && strncmp(line, "refused ", 8) == 0) {
      fprintf(stderr, "cryo: %s\n", line + 8);
      return 1;
    }
    /* The service went away before it had the command: nothing ran, so the CLI may. */
    close(sock);
    run_cli(argv);
  }
  /* From here on a signal is the command's (until then its default action ends the client, and
     the service takes the closed connection for SIGINT). */
  struct sigaction sa = { .sa_handler = pass_on };
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < NFORWARDED; i++) sigaction(forwarded[i], &sa, NULL);
  if (read_reply(line, sizeof(line)) < 0) {
    fprintf(stderr, "cryo: the cryo service at %s ended before the command did: see its own output, and run the command again\n", address);
    return 1;
  }
  if (strncmp(line, "exit ", 5) == 0) return atoi(line + 5) & 0xff;
  if (strncmp(line, "signal ", 7) == 0) {
    int sig = atoi(line + 7);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    return 128 + sig;
  }
  if (strcmp(line, "fallback") == 0) {
    for (size_t i = 0; i < NFORWARDED; i++) signal(forwarded[i], SIG_DFL);
    close(sock);
    run_cli(argv);
  }
  if (strncmp(line, "refused ", 8) == 0) {
    fprintf(stderr, "cryo: %s\n", line + 8);
    return 1;
  }
  fprintf(stderr, "cryo: the cryo service at %s answered '%.80s', which this client does not know: rebuild cryo (npm run build)\n", address, line);
  return 1;
}
