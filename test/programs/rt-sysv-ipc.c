/* rt-sysv-ipc: System V IPC objects the task uses, checked after a round trip.
 * usage: rt-sysv-ipc OUTFILE DIR
 * Keys are made from the PID (other runs and programs use other keys).
 *   shm  key K+1, mode 0640, 10000 bytes, attached at p: byte i = (i * 7 + 3) & 0xff
 *   shm  IPC_PRIVATE, mode 0600, 5000 bytes, attached at q: "private" at 0 and at 4096
 *   sem  key K+2, mode 0660, 3 semaphores: 3, 0, 7 (set by semop, so the task last used them)
 *   msg  key K+3, mode 0620, msg_qbytes 4000: type 5 "first", then type 2 "second message"
 *   shm  IPC_PRIVATE, mode 0600, 3000 bytes, attached at g holding "removed", then marked for
 *        removal (IPC_RMID while attached: it lives on until its last detach)
 * On SIGTERM: each id still names its object with that key and mode, p is still the segment
 * (a write through p is seen through a new attachment), the contents, values and messages are
 * those, and each object works on (semop, msgsnd); the removed segment is still marked for removal
 * and goes at its last detach. Then it removes them all.
 * usage: rt-sysv-ipc OUTFILE DIR undo: a child's semaphore undo values (see undo()).
 * usage: rt-sysv-ipc OUTFILE DIR semwait SEMID: waits to take 4 from semaphore 1 of set SEMID
 * (undo's set holds 3 there), until killed. */
#include "rt.h"
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>

#define SZ 10000
#define PSZ 5000

struct m { long type; char text[64]; };

static void check_perm(const struct ipc_perm *p, key_t key, int mode, const char *what) {
  RT_CHECK(p->__key == key, "%s has key 0x%x, want 0x%x", what, p->__key, key);
  RT_CHECK((p->mode & 0777) == mode, "%s has mode 0%o, want 0%o", what, p->mode & 0777, mode);
  RT_CHECK(p->uid == getuid(), "%s is owned by uid %d", what, p->uid);
}

static int semval(int sem, int n) { return semctl(sem, n, GETVAL); }

/* undo: a child u raises semaphore 0 by 1 and lowers semaphore 1 (set to 5) by 2, both with
 * SEM_UNDO, then waits on a pipe: its undo values are -1 and +2. On SIGTERM the values are 1 and 3;
 * once u exits (told through the pipe) the kernel has applied its undo values: 0 and 5. */
static void undo(void) {
  int sem = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
  if (sem < 0 || semctl(sem, 1, SETVAL, 5)) RT_FAIL("semget: %s", strerror(errno));
  int up[2], down[2];
  if (pipe(up) || pipe(down)) RT_FAIL("pipe: %s", strerror(errno));
  pid_t u = fork();
  if (u < 0) RT_FAIL("fork: %s", strerror(errno));
  if (u == 0) {
    struct sembuf ops[2] = { { 0, 1, SEM_UNDO }, { 1, -2, SEM_UNDO } };
    char c = semop(sem, ops, 2) ? 'x' : 'k';
    if (write(up[1], &c, 1) != 1) _exit(2);
    while (read(down[0], &c, 1) < 0 && errno == EINTR) {}
    _exit(0);
  }
  char c = 0;
  if (read(up[0], &c, 1) != 1 || c != 'k') RT_FAIL("semop SEM_UNDO in the child failed");
  rt_ready("sem=%d u=%d\n", sem, (int)u);
  rt_wait_term();
  int v0 = semval(sem, 0), v1 = semval(sem, 1);
  if (v0 != 1 || v1 != 3) { semctl(sem, 0, IPC_RMID); RT_FAIL("before u exits the values are %d %d, want 1 3", v0, v1); }
  if (write(down[1], "x", 1) != 1 || waitpid(u, NULL, 0) != u) { semctl(sem, 0, IPC_RMID); RT_FAIL("u did not exit: %s", strerror(errno)); }
  v0 = semval(sem, 0), v1 = semval(sem, 1);
  semctl(sem, 0, IPC_RMID);
  RT_CHECK(v0 == 0 && v1 == 5, "after u exits the values are %d %d, want 0 5 (its undo values applied)", v0, v1);
  rt_pass();
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  if (!strcmp(rt_mode, "undo")) undo();
  if (!strcmp(rt_mode, "semwait") && argc > 4) {
    struct sembuf take = { 1, -4, 0 };
    rt_ready("waiting=1\n");
    for (;;) semop(atoi(argv[4]), &take, 1);
  }
  key_t k = 0x5e000000 | ((getpid() & 0xffff) << 4);
  int shm = shmget(k + 1, SZ, IPC_CREAT | IPC_EXCL | 0640);
  int priv = shmget(IPC_PRIVATE, PSZ, IPC_CREAT | 0600);
  int sem = semget(k + 2, 3, IPC_CREAT | IPC_EXCL | 0660);
  int msg = msgget(k + 3, IPC_CREAT | IPC_EXCL | 0620);
  if (shm < 0 || priv < 0 || sem < 0 || msg < 0) RT_FAIL("setup: %s", strerror(errno));
  unsigned char *p = shmat(shm, NULL, 0);
  char *q = shmat(priv, NULL, 0);
  if (p == (void *)-1 || q == (void *)-1) RT_FAIL("shmat: %s", strerror(errno));
  for (int i = 0; i < SZ; i++) p[i] = (i * 7 + 3) & 0xff;
  strcpy(q, "private");
  strcpy(q + 4096, "private");
  struct sembuf ops[2] = { { 0, 3, 0 }, { 2, 7, 0 } };
  if (semop(sem, ops, 2)) RT_FAIL("semop: %s", strerror(errno));
  struct msqid_ds mq;
  if (msgctl(msg, IPC_STAT, &mq)) RT_FAIL("msgctl");
  mq.msg_qbytes = 4000;
  if (msgctl(msg, IPC_SET, &mq)) RT_FAIL("msgctl IPC_SET: %s", strerror(errno));
  struct m a = { 5, "first" }, b = { 2, "second message" };
  if (msgsnd(msg, &a, 5, 0) || msgsnd(msg, &b, 14, 0)) RT_FAIL("msgsnd: %s", strerror(errno));
  int gone = shmget(IPC_PRIVATE, 3000, IPC_CREAT | 0600);
  char *g = gone < 0 ? (void *)-1 : shmat(gone, NULL, 0);
  if (g == (void *)-1) RT_FAIL("shmat: %s", strerror(errno));
  strcpy(g, "removed");
  if (shmctl(gone, IPC_RMID, NULL)) RT_FAIL("IPC_RMID: %s", strerror(errno));
  rt_ready("shm=%d priv=%d sem=%d msg=%d gone=%d p=%p q=%p g=%p\n", shm, priv, sem, msg, gone, (void *)p, (void *)q, (void *)g);
  rt_wait_term();

  struct shmid_ds sd;
  RT_CHECK(shmctl(shm, IPC_STAT, &sd) == 0, "shm %d is gone: %s", shm, strerror(errno));
  check_perm(&sd.shm_perm, k + 1, 0640, "the segment");
  RT_CHECK(sd.shm_segsz == SZ, "the segment has %zu bytes", (size_t)sd.shm_segsz);
  RT_CHECK(sd.shm_nattch == 1, "the segment has %lu attachments, want 1", (unsigned long)sd.shm_nattch);
  for (int i = 0; i < SZ; i++) RT_CHECK(p[i] == ((i * 7 + 3) & 0xff), "segment byte %d is %d, want %d", i, p[i], (i * 7 + 3) & 0xff);
  unsigned char *again = shmat(shm, NULL, SHM_RDONLY);
  RT_CHECK(again != (void *)-1, "shmat again: %s", strerror(errno));
  p[SZ - 1] = 0xee;
  RT_CHECK(again[SZ - 1] == 0xee, "a write through the old attachment is not in the segment");
  shmdt(again);
  RT_CHECK(shmctl(priv, IPC_STAT, &sd) == 0, "private shm %d is gone: %s", priv, strerror(errno));
  check_perm(&sd.shm_perm, IPC_PRIVATE, 0600, "the private segment");
  RT_CHECK(!strcmp(q, "private") && !strcmp(q + 4096, "private") && q[100] == 0, "the private segment holds '%.16s' and '%.16s'", q, q + 4096);

  struct semid_ds sds;
  union { int val; struct semid_ds *buf; unsigned short *array; } arg = { .buf = &sds };
  RT_CHECK(semctl(sem, 0, IPC_STAT, arg) == 0, "sem %d is gone: %s", sem, strerror(errno));
  check_perm(&sds.sem_perm, k + 2, 0660, "the semaphore set");
  RT_CHECK(sds.sem_nsems == 3, "the set has %lu semaphores", (unsigned long)sds.sem_nsems);
  unsigned short v[3];
  arg.array = v;
  semctl(sem, 0, GETALL, arg);
  RT_CHECK(v[0] == 3 && v[1] == 0 && v[2] == 7, "the semaphores are %d %d %d, want 3 0 7", v[0], v[1], v[2]);
  struct sembuf down = { 0, -3, IPC_NOWAIT };
  RT_CHECK(semop(sem, &down, 1) == 0, "semop -3 after restore: %s", strerror(errno));

  RT_CHECK(msgctl(msg, IPC_STAT, &mq) == 0, "msg %d is gone: %s", msg, strerror(errno));
  check_perm(&mq.msg_perm, k + 3, 0620, "the queue");
  RT_CHECK(mq.msg_qbytes == 4000, "the queue's msg_qbytes is %lu, want 4000", (unsigned long)mq.msg_qbytes);
  RT_CHECK(mq.msg_qnum == 2, "the queue holds %lu messages, want 2", (unsigned long)mq.msg_qnum);
  struct m r = { 0 };
  ssize_t n = msgrcv(msg, &r, sizeof r.text, 0, IPC_NOWAIT);
  RT_CHECK(n == 5 && r.type == 5 && !memcmp(r.text, "first", 5), "first message: %zd bytes, type %ld, '%.*s'", n, r.type, (int)(n > 0 ? n : 0), r.text);
  memset(&r, 0, sizeof r);
  n = msgrcv(msg, &r, sizeof r.text, 0, IPC_NOWAIT);
  RT_CHECK(n == 14 && r.type == 2 && !memcmp(r.text, "second message", 14), "second message: %zd bytes, type %ld, '%.*s'", n, r.type, (int)(n > 0 ? n : 0), r.text);
  RT_CHECK(msgsnd(msg, &a, 5, IPC_NOWAIT) == 0, "msgsnd after restore: %s", strerror(errno));

  RT_CHECK(shmctl(gone, IPC_STAT, &sd) == 0, "the removed segment %d is gone: %s", gone, strerror(errno));
  RT_CHECK(sd.shm_perm.mode & SHM_DEST, "the removed segment is not marked for removal (mode 0%o)", sd.shm_perm.mode);
  RT_CHECK(sd.shm_perm.__key == IPC_PRIVATE && sd.shm_nattch == 1, "the removed segment has key 0x%x, %lu attachments", sd.shm_perm.__key, (unsigned long)sd.shm_nattch);
  RT_CHECK(!strcmp(g, "removed"), "the removed segment holds '%.16s'", g);
  shmdt(g);
  RT_CHECK(shmctl(gone, IPC_STAT, &sd) == -1, "the removed segment outlived its last detach");

  shmdt(p);
  shmdt(q);
  shmctl(shm, IPC_RMID, NULL);
  shmctl(priv, IPC_RMID, NULL);
  semctl(sem, 0, IPC_RMID);
  msgctl(msg, IPC_RMID, NULL);
  rt_pass();
}
