package hostile

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// The cases below are the findings of the security review of 2026-12-01,
// each as it was demonstrated plus variants. They are part of corpus (see
// init), so each is followed by the probe job in the same sandbox and the
// host audit.

// abi32 calls a system call through the 32-bit entry (int $0x80), which
// a filter written for x86_64 numbers alone would let through.
const abi32 = `static long s32(long n, long a, long b, long c, long d, long e) {
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
		: "memory", "r8", "r9", "r10", "r11");
	return r;
}
`

var hardeningCases = []hcase{
	{
		// Every 32-bit call kills the process that makes it (SIGSYS): each
		// attempt runs in a child, and only a child that returned counts
		// as an escape. x32 calls answer ENOSYS.
		name: "abi32_syscalls", lang: "c", time: 5, want: []int{testserver.Accepted}, stdout: "blocked",
		code: escapePrelude + abi32 + `#include <sched.h>
#include <sys/wait.h>
struct attempt { const char *what; long nr, a, b, c, d, e; };
int main(void) {
	static char params[120], attr[128];
	struct attempt at[] = {
		{"unshare(CLONE_NEWUSER|CLONE_NEWNS)", 310, CLONE_NEWUSER | CLONE_NEWNS},
		{"mount tmpfs", 21, (long)"none", (long)"{{WORKDIR}}", (long)"tmpfs"},
		{"sethostname", 74, (long)"evil", 4},
		{"keyctl(JOIN_SESSION_KEYRING)", 288, 1},
		{"add_key", 286, (long)"user", (long)"k", (long)"v", 1, -3},
		{"io_uring_setup", 425, 8, (long)params},
		{"perf_event_open", 336, (long)attr, 0, -1, -1},
		{"ptrace(PTRACE_TRACEME)", 26, 0},
		{"bpf", 357, 0, (long)attr, 128},
		{"getpid", 20},
	};
	for (unsigned i = 0; i < sizeof at / sizeof at[0]; i++) {
		pid_t p = fork();
		if (p == 0) {
			long r = s32(at[i].nr, at[i].a, at[i].b, at[i].c, at[i].d, at[i].e);
			_exit(r >= 0 ? 0 : 1);
		}
		int st = 0;
		waitpid(p, &st, 0);
		int killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
		fprintf(stderr, "%s: status %#x\n", at[i].what, st);
		if (!killed) report(at[i].what, WIFEXITED(st) && WEXITSTATUS(st) == 0, 0);
	}
	errno = 0;
	long r = syscall(0x40000000L | SYS_unshare, (long)CLONE_NEWUSER);
	report("x32 unshare", r == 0, errno);
	if (r != 0 && errno != ENOSYS) { printf("ESCAPE x32 answered errno %d, not ENOSYS\n", errno); escaped = 1; }
	return finish();
}
`,
	},
	{
		// The reviewer's reproducer: the program itself is killed.
		name: "abi32_unshare_kills", lang: "c", time: 2, want: []int{testserver.RuntimeError},
		check: killedBy(syscall.SIGSYS),
		code: escapePrelude + abi32 + `#include <sched.h>
int main(void) {
	long r = s32(310, CLONE_NEWUSER | CLONE_NEWNS, 0, 0, 0, 0);
	printf("ESCAPE unshare returned %ld\n", r);
	return 0;
}
`,
	},
	{
		// The same through Python's ctypes: machine code in an executable
		// mapping (push rbx; mov eax, 310; mov ebx, flags; int 0x80; pop
		// rbx; ret).
		name: "abi32_python_ctypes", lang: "python", time: 2, want: []int{testserver.RuntimeError},
		check: killedBy(syscall.SIGSYS),
		code: `import ctypes, mmap
code = bytes([0x53, 0xB8, 0x36, 0x01, 0, 0, 0xBB, 0, 0, 0x02, 0x10, 0xCD, 0x80, 0x5B, 0xC3])
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(code)
f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))
print("ESCAPE unshare returned %d" % f())
`,
	},
	{
		// A POSIX message queue outlives its creator; the probe looks
		// for it by name.
		name: "mqueue_left_behind", lang: "c", time: 2, want: []int{testserver.Accepted}, stdout: "created",
		code: `#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
int main(void) {
	mqd_t q = mq_open("/leak", O_CREAT | O_WRONLY, 0600, NULL);
	mqd_t q2 = mq_open("/leak2", O_CREAT | O_WRONLY, 0, NULL);
	int sent = q != (mqd_t)-1 && mq_send(q, "secret", 6, 0) == 0;
	fprintf(stderr, "mq %d %d sent %d\n", (int)q, (int)q2, sent);
	puts(sent ? "created" : "not created");
	return 0;
}
`,
	},
	{
		// System V objects whose mode was set to 0: a cleanup command
		// that must stat them cannot, and skips them.
		name: "sysv_ipc_mode_zero", lang: "c", time: 2, want: []int{testserver.Accepted}, stdout: "created",
		code: `#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
int main(void) {
	int shm = shmget(0x5f0, 4096, IPC_CREAT | 0600);
	if (shm >= 0) { char *p = shmat(shm, 0, 0); if (p != (void *)-1) strcpy(p, "secret"); }
	int msg = msgget(0x5f1, IPC_CREAT | 0600);
	int sem = semget(0x5f2, 1, IPC_CREAT | 0600);
	struct shmid_ds sd; struct msqid_ds md; struct semid_ds ss;
	int ok = shm >= 0 && msg >= 0 && sem >= 0;
	ok = ok && shmctl(shm, IPC_STAT, &sd) == 0 && (sd.shm_perm.mode = 0, shmctl(shm, IPC_SET, &sd) == 0);
	ok = ok && msgctl(msg, IPC_STAT, &md) == 0 && (md.msg_perm.mode = 0, msgctl(msg, IPC_SET, &md) == 0);
	ok = ok && semctl(sem, 0, IPC_STAT, &ss) == 0 && (ss.sem_perm.mode = 0, semctl(sem, 0, IPC_SET, &ss) == 0);
	puts(ok ? "created" : "not created");
	return 0;
}
`,
	},
	{
		// A datagram queued on every unix socket of the sandbox's network
		// namespace (the init's, once): the probe must find none.
		name: "socket_datagram_left_behind", lang: "c", time: 2, want: []int{testserver.Accepted}, stdout: "done",
		code: `#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
int main(void) {
	FILE *f = fopen("/proc/net/unix", "r");
	char line[512];
	int sent = 0;
	while (f && fgets(line, sizeof line, f)) {
		char *at = strchr(line, '@');
		if (!at) continue;
		at[strcspn(at, "\n")] = 0;
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		size_t n = strlen(at);
		memcpy(a.sun_path, at, n);
		a.sun_path[0] = 0;
		int s = socket(AF_UNIX, SOCK_DGRAM, 0);
		if (sendto(s, "secret", 6, 0, (struct sockaddr *)&a, sizeof(sa_family_t) + n) == 6) sent++;
	}
	fprintf(stderr, "queued %d datagrams\n", sent);
	puts("done");
	return 0;
}
`,
	},
	{
		// Hundreds of processes: the next job must not see the pid
		// counter moved.
		name: "pid_counter", lang: "c", time: 5, want: []int{testserver.Accepted}, stdout: "forked",
		code: `#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
	for (int i = 0; i < 300; i++) { pid_t p = fork(); if (p == 0) _exit(0); if (p > 0) waitpid(p, 0, 0); }
	puts("forked");
	return 0;
}
`,
	},
	{
		// The compiled program, re-run through ld.so (so the file is not
		// busy), opened read-write and mapped shared: writable memory
		// charged to the compile, not to this run's 8 MiB limit.
		name: "map_compiled_program", lang: "c", time: 5, memKiB: 8 << 10, want: []int{testserver.Accepted}, stdout: "blocked",
		code: escapePrelude + `#include <sys/mman.h>
int main(int argc, char **argv) {
	if (argc == 1) {
		execl("/lib64/ld-linux-x86-64.so.2", "ld.so", "{{WORKDIR}}/main", "child", (char *)0);
		puts("ESCAPE? exec ld.so failed");
		return 1;
	}
	TRY("chmod {{WORKDIR}}/main", chmod("{{WORKDIR}}/main", 0777) == 0);
	TRY("chown {{WORKDIR}}/main", chown("{{WORKDIR}}/main", getuid(), getgid()) == 0);
	TRY("open {{WORKDIR}}/main O_WRONLY", canopen("{{WORKDIR}}/main", O_WRONLY));
	int fd = open("{{WORKDIR}}/main", O_RDWR);
	report("open {{WORKDIR}}/main O_RDWR", fd >= 0, errno);
	if (fd >= 0 && ftruncate(fd, 59 << 20) == 0) {
		char *p = mmap(0, 59 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED) { memset(p, 1, 59 << 20); report("59 MiB through MAP_SHARED", 1, 0); }
	}
	return finish();
}
`,
	},
	{
		// Device nodes are read-only binds and belong to nobody the job
		// is: their host inodes cannot change.
		name: "device_nodes", lang: "c", time: 2, want: []int{testserver.Accepted}, stdout: "blocked",
		code: escapePrelude + `#include <utime.h>
int main(void) {
	const char *dev[] = {"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"};
	for (int i = 0; i < 4; i++) {
		struct stat st;
		char what[64];
		if (stat(dev[i], &st) == 0) {
			snprintf(what, sizeof what, "own %s", dev[i]);
			report(what, st.st_uid == getuid(), 0);
		}
		snprintf(what, sizeof what, "utime %s", dev[i]);
		TRY(what, utime(dev[i], NULL) == 0);
		snprintf(what, sizeof what, "chmod %s", dev[i]);
		if (stat(dev[i], &st) == 0) TRY(what, chmod(dev[i], st.st_mode & 07777) == 0);
	}
	int fd = open("/dev/null", O_WRONLY);
	if (fd < 0 || write(fd, "x", 1) != 1) puts("ESCAPE? /dev/null not writable");
	return finish();
}
`,
	},
	{
		// What a judge does not need to tell: the kernel's command line
		// and configuration, its symbols, the host's boot id, the
		// server's cgroup names (they carry its pid).
		name: "host_information", lang: "c", time: 2, want: []int{testserver.Accepted}, stdout: "blocked",
		code: escapePrelude + `static int has(const char *path, const char *needle) {
	static char b[1 << 16];
	int fd = open(path, O_RDONLY);
	if (fd < 0) return 0;
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n <= 0) return 0;
	b[n] = 0;
	return needle == NULL || strstr(b, needle) != NULL;
}
int main(void) {
	TRY("read /proc/cmdline", has("/proc/cmdline", NULL));
	TRY("read /proc/config.gz", has("/proc/config.gz", NULL));
	TRY("read /proc/kallsyms", has("/proc/kallsyms", NULL));
	TRY("read /proc/modules", has("/proc/modules", NULL));
	TRY("read boot_id", has("/proc/sys/kernel/random/boot_id", NULL));
	TRY("server cgroup in /proc/self/cgroup", has("/proc/self/cgroup", "pecan"));
	return finish();
}
`,
	},
	{
		// A lock on a file every sandbox shares would signal between
		// jobs: the test holds locks on it from the host, and the job
		// must not be able to tell.
		name: "shared_file_locks", lang: "c", time: 2, want: []int{testserver.Accepted}, stdout: "blocked",
		hold: holdLocks("/usr/bin/env"),
		code: escapePrelude + `#include <sys/file.h>
int main(void) {
	int fd = open("/usr/bin/env", O_RDONLY);
	if (fd < 0) { puts("ESCAPE? cannot open /usr/bin/env"); return 1; }
	errno = 0;
	int r = flock(fd, LOCK_EX | LOCK_NB);
	report("flock sees the host's lock", r != 0 && errno == EWOULDBLOCK, errno);
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	errno = 0;
	r = fcntl(fd, F_GETLK, &l);
	report("F_GETLK sees the host's lock", r == 0 && l.l_type != F_UNLCK, errno);
	struct flock o = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	errno = 0;
	r = fcntl(fd, F_OFD_GETLK, &o);
	report("F_OFD_GETLK sees the host's lock", r == 0 && o.l_type != F_UNLCK, errno);
	return finish();
}
`,
	},
}

func init() { corpus = append(corpus, hardeningCases...) }

// killedBy wants the run killed by sig.
func killedBy(sig syscall.Signal) func(t *testing.T, r *testserver.Result) {
	return func(t *testing.T, r *testserver.Result) {
		t.Helper()
		if r.Signal != int(sig) {
			t.Errorf("signal %d, want %d (%v)", r.Signal, sig, sig)
		}
		if strings.Contains(r.Stdout, "ESCAPE") {
			t.Errorf("the call returned: %s", r.Stdout)
		}
	}
}

// holdLocks takes a whole-file flock and a read lock on path from the
// host for the duration of a case.
func holdLocks(path string) func(t *testing.T) func() {
	return func(t *testing.T) func() {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			t.Fatalf("flock %s: %v", path, err)
		}
		lk := syscall.Flock_t{Type: syscall.F_RDLCK, Whence: 0}
		if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
			f.Close()
			t.Fatalf("F_SETLK %s: %v", path, err)
		}
		return func() { f.Close() }
	}
}
