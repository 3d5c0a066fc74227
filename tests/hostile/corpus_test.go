package hostile

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// hcase is one hostile submission.
type hcase struct {
	name, lang, code string
	stdin            string
	time             float64 // time_limit, CPU seconds; 0: server default
	wall             float64 // wall_time_limit; 0: server default
	memKiB           int64   // memory_limit; 0: server default
	want             []int   // acceptable verdicts
	// stdout is desired_stdout. Escape probes print "blocked" only when
	// every attempt failed, so Accepted proves containment and any success
	// shows in stdout as "ESCAPE <attempt>".
	stdout string
	// probeDelay is how long the probe job waits before it looks: past
	// the moment a process that survived the case would act.
	probeDelay float64
	// hostFiles must be byte-identical before and after the case.
	hostFiles []string
	// check inspects the answer further.
	check func(t *testing.T, r *testserver.Result)
	// hold, when set, runs on the host before the case; what it returns
	// runs after the case.
	hold func(t *testing.T) (release func())
}

// escapePrelude is shared by the C programs that probe for escapes: each
// attempt is reported on stderr; a success also prints "ESCAPE <what>" on
// stdout; finish prints "blocked" only if nothing succeeded.
const escapePrelude = `#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
static int escaped;
static void report(const char *what, int ok, int err) {
	fprintf(stderr, "%s: %s (errno %d: %s)\n", what, ok ? "SUCCEEDED" : "failed", err, strerror(err));
	if (ok) { printf("ESCAPE %s\n", what); escaped = 1; }
}
#define TRY(what, cond) do { errno = 0; int ok_ = (cond); int e_ = errno; report(what, ok_, e_); } while (0)
static int finish(void) { if (!escaped) puts("blocked"); fflush(stdout); return 0; }
static int canopen(const char *p, int flags) {
	int fd = open(p, flags, 0644);
	if (fd < 0) return 0;
	close(fd);
	return 1;
}
`

// placeholders in case code, filled per server by expand.
func expand(code string, s *testserver.Server) string {
	port := s.URL()[strings.LastIndexByte(s.URL(), ':')+1:]
	return strings.NewReplacer(
		"{{PORT}}", port,
		"{{CONFIG}}", filepath.Join(env.Repo, "pecan.toml"),
		"{{README}}", filepath.Join(env.Repo, "README.md"),
		"{{BIN}}", env.Bin,
		"{{DATADIR}}", testserver.DataDir(),
		"{{WORKDIR}}", testserver.WorkDir(testserver.Backend()),
	).Replace(code)
}

// manyErrors is a C file with thousands of errors: megabytes of
// diagnostics against compile_output's 64 KiB cap.
func manyErrors() string {
	var b strings.Builder
	for i := range 12000 {
		fmt.Fprintf(&b, "int a%d = b%d;\n", i, i)
	}
	b.WriteString("int main(void) { return 0; }\n")
	return b.String()
}

// compileOutputCapped checks compile_output against the 64 KiB cap plus a
// short note.
func compileOutputCapped(t *testing.T, r *testserver.Result) {
	t.Helper()
	if n := len(r.CompileOutput); n > 64*1024+256 {
		t.Errorf("compile_output is %d bytes, want at most 64 KiB plus a short note", n)
	}
	if r.CompileOutput == "" {
		t.Errorf("compile_output is empty; a CompileError must carry the compiler's output")
	}
}

func noShadow(t *testing.T, r *testserver.Result) {
	t.Helper()
	compileOutputCapped(t, r)
	if b, err := os.ReadFile("/etc/shadow"); err == nil {
		if first, _, _ := strings.Cut(string(b), "\n"); first != "" && strings.Contains(r.CompileOutput+r.Stdout+r.Stderr, first) {
			t.Errorf("the host's /etc/shadow leaked into the answer")
		}
	}
}

var corpus = []hcase{
	// ---- bombs and floods ----
	{
		// 64 pids at most: forks fail with EAGAIN and every process spins,
		// so CPU time runs out (TLE). A kill by the pids/OOM machinery
		// before that is a RuntimeError, equally contained.
		name: "fork_bomb", lang: "c", time: 1, want: []int{testserver.TimeLimitExceeded, testserver.RuntimeError},
		code: `#include <unistd.h>
int main(void) { for (;;) fork(); }
`,
	},
	{
		// Threads count against the pids limit (64): creation must fail
		// long before the 10000th thread; the program then reports.
		name: "thread_bomb", lang: "c", time: 2, want: []int{testserver.Accepted}, stdout: "blocked",
		code: `#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *idle(void *a) { (void)a; for (;;) pause(); return 0; }
int main(void) {
	int n = 0;
	pthread_attr_t at; pthread_attr_init(&at); pthread_attr_setstacksize(&at, 65536);
	for (; n < 10000; n++) { pthread_t t; if (pthread_create(&t, &at, idle, 0) != 0) break; }
	fprintf(stderr, "created %d threads\n", n);
	puts(n <= 64 ? "blocked" : "ESCAPE too many threads");
	fflush(stdout);
	_exit(0);
}
`,
	},
	{
		name: "heap_bomb", lang: "c", time: 5, memKiB: 64 << 10, want: []int{testserver.MemoryLimitExceeded},
		code: `#include <stdlib.h>
#include <string.h>
int main(void) { for (;;) { char *p = malloc(1 << 20); if (!p) return 1; memset(p, 7, 1 << 20); } }
`,
	},
	{
		name: "mmap_bomb", lang: "c", time: 5, memKiB: 64 << 10, want: []int{testserver.MemoryLimitExceeded},
		code: `#include <sys/mman.h>
int main(void) {
	size_t n = (size_t)8 << 30;
	char *p = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) return 1;
	for (size_t i = 0; i < n; i += 4096) p[i] = 1;
	return 0;
}
`,
	},
	{
		name: "jvm_array_bomb", lang: "java", time: 5, memKiB: 64 << 10, want: []int{testserver.MemoryLimitExceeded},
		code: `import java.util.ArrayList;
public class Main {
    public static void main(String[] args) {
        ArrayList<long[]> keep = new ArrayList<>();
        for (;;) keep.add(new long[1 << 20]);
    }
}
`,
	},
	{
		// The stack is unlimited but bounded by memory (stack_kib = 0):
		// the cgroup's limit stops it (MLE); a SIGSEGV at a guard page is
		// a RuntimeError, both honest.
		name: "stack_overflow", lang: "c", time: 5, memKiB: 64 << 10, want: []int{testserver.MemoryLimitExceeded, testserver.RuntimeError},
		code: `int f(volatile int *p) { volatile int a[256]; a[0] = *p; return f(a) + a[1]; }
int main(void) { int x = 1; return f(&x); }
`,
	},
	{
		name: "busy_loop", lang: "c", time: 1, want: []int{testserver.TimeLimitExceeded},
		code: `int main(void) { volatile unsigned long x = 0; for (;;) x++; }
`,
	},
	{
		name: "sleep_forever", lang: "c", time: 1, wall: 2, want: []int{testserver.TimeLimitExceeded},
		code: `#include <unistd.h>
int main(void) { for (;;) pause(); }
`,
	},
	{
		name: "stdout_flood", lang: "c", time: 5, want: []int{testserver.OutputLimitExceeded},
		code: `#include <string.h>
#include <unistd.h>
int main(void) { static char b[1 << 16]; memset(b, 'y', sizeof b); for (;;) if (write(1, b, sizeof b) < 0) return 1; }
`,
		check: func(t *testing.T, r *testserver.Result) {
			if len(r.Stdout) > 64<<20 {
				t.Errorf("stdout is %d bytes, past the 64 MiB output limit", len(r.Stdout))
			}
		},
	},
	{
		name: "stderr_flood", lang: "c", time: 5, want: []int{testserver.OutputLimitExceeded},
		code: `#include <string.h>
#include <unistd.h>
int main(void) { static char b[1 << 16]; memset(b, 'e', sizeof b); for (;;) if (write(2, b, sizeof b) < 0) return 1; }
`,
		check: func(t *testing.T, r *testserver.Result) {
			if len(r.Stderr) > 64<<20 {
				t.Errorf("stderr is %d bytes, past the 64 MiB output limit", len(r.Stderr))
			}
		},
	},
	{
		// Write until an error (EFBIG at the 64 MiB file size limit: start
		// a new file; ENOSPC when the tmpfs is full: exit 1). The memory
		// limit is above the tmpfs size, whose pages the run's cgroup pays.
		name: "disk_fill_w", lang: "c", time: 10, wall: 20, memKiB: 512 << 10, want: []int{testserver.RuntimeError},
		stdin: "{{WORKDIR}}",
		code:  diskFill,
		check: tmpfsFull,
	},
	{
		name: "disk_fill_tmp", lang: "c", time: 10, wall: 20, memKiB: 256 << 10, want: []int{testserver.RuntimeError},
		stdin: "/tmp",
		code:  diskFill,
		check: tmpfsFull,
	},
	{
		name: "fd_exhaustion", lang: "c", time: 2, want: []int{testserver.Accepted}, stdout: "blocked",
		code: `#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
int main(void) {
	int n = 0;
	while (n < 100000 && open("/dev/null", O_RDONLY) >= 0) n++;
	int e = errno;
	fprintf(stderr, "opened %d (errno %d: %s)\n", n, e, strerror(e));
	puts(n + 3 <= 256 && e == EMFILE ? "blocked" : "ESCAPE fd limit");
	return 0;
}
`,
	},

	// ---- network ----
	{
		name: "network", lang: "c", time: 2, want: []int{testserver.Accepted}, stdout: "blocked",
		code: escapePrelude + `#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
static int tcp(const char *ip, int port) {
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) return 0;
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET; a.sin_port = htons(port); inet_pton(AF_INET, ip, &a.sin_addr);
	int r = connect(s, (struct sockaddr *)&a, sizeof a);
	int e = errno; close(s); errno = e;
	return r == 0;
}
static int tcp6(int port) {
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	if (s < 0) return 0;
	struct sockaddr_in6 a = {0};
	a.sin6_family = AF_INET6; a.sin6_port = htons(port); a.sin6_addr = in6addr_loopback;
	int r = connect(s, (struct sockaddr *)&a, sizeof a);
	int e = errno; close(s); errno = e;
	return r == 0;
}
static int udp(void) {
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0) return 0;
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET; a.sin_port = htons(53); inet_pton(AF_INET, "8.8.8.8", &a.sin_addr);
	int r = sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof a);
	int e = errno; close(s); errno = e;
	return r >= 0;
}
static int dns(void) {
	struct addrinfo *res = 0;
	int r = getaddrinfo("example.com", "80", 0, &res);
	if (r == 0) freeaddrinfo(res);
	else fprintf(stderr, "getaddrinfo: %s\n", gai_strerror(r));
	return r == 0;
}
static int sock(int dom, int type, int proto) {
	int s = socket(dom, type, proto);
	if (s < 0) return 0;
	close(s);
	return 1;
}
int main(void) {
	TRY("tcp 127.0.0.1:{{PORT}} (the server)", tcp("127.0.0.1", {{PORT}}));
	TRY("tcp 127.0.0.1:22", tcp("127.0.0.1", 22));
	TRY("tcp 127.0.0.1:80", tcp("127.0.0.1", 80));
	TRY("tcp [::1]:{{PORT}}", tcp6({{PORT}}));
	TRY("tcp 8.8.8.8:53", tcp("8.8.8.8", 53));
	TRY("udp sendto 8.8.8.8:53", udp());
	TRY("getaddrinfo example.com", dns());
	TRY("socket AF_PACKET SOCK_RAW", sock(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
	TRY("socket AF_INET SOCK_RAW", sock(AF_INET, SOCK_RAW, IPPROTO_ICMP));
	return finish();
}
`,
	},

	// ---- host secrets and read-only filesystem ----
	{
		name: "host_secrets", lang: "c", time: 2, want: []int{testserver.Accepted}, stdout: "blocked",
		code: escapePrelude + `/* dirhas reports entries of p other than those in allowed, a list
   ",a,b,": the mount points of toolchains and language state are visible
   as empty directories, nothing else may be. */
static int dirhas(const char *p, const char *allowed) {
	DIR *d = opendir(p);
	if (!d) return 0;
	int found = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char key[300];
		snprintf(key, sizeof key, ",%s,", e->d_name);
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || strstr(allowed, key)) continue;
		fprintf(stderr, "  %s/%s visible\n", p, e->d_name);
		found = 1;
	}
	closedir(d);
	return found;
}
static int canreadlink(const char *p) { char b[256]; return readlink(p, b, sizeof b) >= 0; }
int main(void) {
	TRY("open /etc/shadow", canopen("/etc/shadow", O_RDONLY));
	TRY("open /etc/passwd", canopen("/etc/passwd", O_RDONLY));
	TRY("open {{CONFIG}}", canopen("{{CONFIG}}", O_RDONLY));
	TRY("open {{README}}", canopen("{{README}}", O_RDONLY));
	TRY("open /proc/1/environ", canopen("/proc/1/environ", O_RDONLY));
	TRY("open /proc/1/exe", canopen("/proc/1/exe", O_RDONLY));
	TRY("readlink /proc/1/exe", canreadlink("/proc/1/exe"));
	TRY("open /proc/1/root/", canopen("/proc/1/root/", O_RDONLY | O_DIRECTORY));
	TRY("readlink /proc/1/root", canreadlink("/proc/1/root"));
	TRY("open {{BIN}}", canopen("{{BIN}}", O_RDONLY));
	TRY("list {{DATADIR}} beyond languages/", dirhas("{{DATADIR}}", ",languages,"));
	TRY("list /root beyond mount points", dirhas("/root", ",.rustup,.cache,"));
	TRY("write /usr/x", canopen("/usr/x", O_WRONLY | O_CREAT));
	TRY("write /etc/x", canopen("/etc/x", O_WRONLY | O_CREAT));
	TRY("write /x", canopen("/x", O_WRONLY | O_CREAT));
	TRY("write /bin/x", canopen("/bin/x", O_WRONLY | O_CREAT));
	TRY("write /proc/sys/kernel/hostname", canopen("/proc/sys/kernel/hostname", O_WRONLY));
	TRY("write {{DATADIR}}/languages/cpp/x", canopen("{{DATADIR}}/languages/cpp/x", O_WRONLY | O_CREAT));
	TRY("write {{DATADIR}}/languages/go/x", canopen("{{DATADIR}}/languages/go/x", O_WRONLY | O_CREAT));
	TRY("write /dev/x", canopen("/dev/x", O_WRONLY | O_CREAT));
	return finish();
}
`,
	},

	// ---- persistence ----
	{
		// The grandchild (setsid, reparented) outlives the job unless the
		// sandbox kills every process of the job; the probe waits past the
		// moment it would write.
		name: "double_fork_setsid", lang: "c", time: 2, want: []int{testserver.Accepted}, stdout: "parent done",
		probeDelay: 2,
		code: `#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
	pid_t p = fork();
	if (p == 0) {
		setsid();
		if (fork() == 0) {
			signal(SIGHUP, SIG_IGN); signal(SIGTERM, SIG_IGN);
			close(0); close(1); close(2);
			sleep(1);
			close(open("/tmp/late", O_WRONLY | O_CREAT, 0644));
			close(open("{{WORKDIR}}/late", O_WRONLY | O_CREAT, 0644));
			for (;;) pause();
		}
		_exit(0);
	}
	puts("parent done");
	return 0;
}
`,
	},
	{
		name: "files_left_behind", lang: "c", time: 2, want: []int{testserver.Accepted}, stdout: "left",
		code: `#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
static void touch(const char *p) { int fd = open(p, O_WRONLY | O_CREAT, 0777); if (fd >= 0) { write(fd, "x", 1); close(fd); } }
int main(void) {
	touch("{{WORKDIR}}/left"); touch("{{WORKDIR}}/.hidden"); touch("/tmp/left"); touch("/tmp/.hidden");
	mkdir("{{WORKDIR}}/dir", 0777); mkdir("{{WORKDIR}}/dir/sub", 0777); touch("{{WORKDIR}}/dir/sub/f");
	mkdir("/tmp/dir", 0777); touch("/tmp/dir/f");
	mkfifo("/tmp/fifo", 0666);
	chmod("{{WORKDIR}}/dir", 0); /* reset must still be able to empty it */
	puts("left");
	return 0;
}
`,
	},
	{
		name: "sysv_ipc_left_behind", lang: "c", time: 2, want: []int{testserver.Accepted}, stdout: "created",
		code: `#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
int main(void) {
	int shm = shmget(0x5ec, 1 << 20, IPC_CREAT | 0666);
	if (shm >= 0) { char *p = shmat(shm, 0, 0); if (p != (void *)-1) strcpy(p, "secret"); }
	int shm2 = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	int msg = msgget(0x5ed, IPC_CREAT | 0666);
	struct { long t; char s[8]; } m = {1, "secret"};
	if (msg >= 0) msgsnd(msg, &m, sizeof m.s, 0);
	int sem = semget(0x5ee, 3, IPC_CREAT | 0666);
	fprintf(stderr, "shm %d %d msg %d sem %d\n", shm, shm2, msg, sem);
	puts(shm >= 0 && msg >= 0 && sem >= 0 ? "created" : "not created");
	return 0;
}
`,
	},
	{
		// Symlinks planted where the next job's files go, pointing at host
		// paths: the host files must stay as they are.
		name: "symlink_plant", lang: "c", time: 2, want: []int{testserver.Accepted}, stdout: "planted",
		hostFiles: []string{"{{README}}", "/root/.bashrc", "{{CONFIG}}"},
		code: `#include <stdio.h>
#include <unistd.h>
int main(void) {
	int n = 0;
	unlink("{{WORKDIR}}/main.c"); n += symlink("{{README}}", "{{WORKDIR}}/main.c") == 0;
	unlink("{{WORKDIR}}/main");   n += symlink("/root/.bashrc", "{{WORKDIR}}/main") == 0;
	n += symlink("{{CONFIG}}", "{{WORKDIR}}/main.py") == 0;
	n += symlink("{{CONFIG}}", "{{WORKDIR}}/Main.java") == 0;
	n += symlink("/root/.bashrc", "/tmp/x") == 0;
	n += symlink("/", "{{WORKDIR}}/rootlink") == 0;
	puts(n == 6 ? "planted" : "not planted");
	return 0;
}
`,
	},
	{
		// kill(-1) signals every process of the pid namespace the job may
		// signal except the caller, so the program usually lives on
		// (Accepted); if it does kill itself, that is a RuntimeError.
		name: "kill_all", lang: "c", time: 2, want: []int{testserver.Accepted, testserver.RuntimeError}, stdout: "alive",
		code: `#include <signal.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>
int main(void) {
	int r = kill(-1, SIGKILL);
	fprintf(stderr, "kill(-1, SIGKILL) = %d (%s)\n", r, strerror(errno));
	puts("alive");
	return 0;
}
`,
	},
	{
		// pid 1 is the sandbox's init: it must survive (or the sandbox is
		// replaced), and the job must get an answer.
		name: "kill_init", lang: "c", time: 2, want: []int{testserver.Accepted, testserver.RuntimeError}, stdout: "alive",
		code: `#include <signal.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>
int main(void) {
	int r = kill(1, SIGKILL);
	fprintf(stderr, "kill(1, SIGKILL) = %d (%s)\n", r, strerror(errno));
	r = kill(1, SIGTERM);
	fprintf(stderr, "kill(1, SIGTERM) = %d (%s)\n", r, strerror(errno));
	puts("alive");
	return 0;
}
`,
	},

	// ---- seccomp ----
	{
		name: "seccomp_denied", lang: "c", time: 2, want: []int{testserver.Accepted}, stdout: "blocked",
		code: escapePrelude + `#include <sched.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <linux/perf_event.h>
int main(void) {
	TRY("ptrace(PTRACE_TRACEME)", ptrace(PTRACE_TRACEME, 0, 0, 0) == 0);
	TRY("ptrace(PTRACE_ATTACH, 1)", ptrace(PTRACE_ATTACH, 1, 0, 0) == 0);
	TRY("mount tmpfs", mount("none", "{{WORKDIR}}", "tmpfs", 0, 0) == 0);
	TRY("mount proc", mount("proc", "/tmp", "proc", 0, 0) == 0);
	TRY("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER) == 0);
	TRY("unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS) == 0);
	{
		errno = 0;
		long r = syscall(SYS_clone, (long)(CLONE_NEWUSER | SIGCHLD), 0L, 0L, 0L, 0L);
		if (r == 0) _exit(0);
		report("clone(CLONE_NEWUSER)", r > 0, errno);
	}
	int fd;
	TRY("setns(/proc/1/ns/net)", (fd = open("/proc/1/ns/net", O_RDONLY)) >= 0 && setns(fd, 0) == 0);
	TRY("setns(/proc/self/ns/mnt)", (fd = open("/proc/self/ns/mnt", O_RDONLY)) >= 0 && setns(fd, 0) == 0);
	TRY("chroot(/tmp)", chroot("/tmp") == 0);
	{
		char params[120] = {0};
		TRY("io_uring_setup", syscall(425, 8, params) >= 0);
	}
	TRY("keyctl(JOIN_SESSION_KEYRING)", syscall(SYS_keyctl, 1L, 0L, 0L, 0L, 0L) >= 0);
	TRY("add_key", syscall(SYS_add_key, "user", "k", "v", 1L, -3L) >= 0);
	{
		char attr[128] = {0};
		TRY("bpf(BPF_MAP_CREATE)", syscall(SYS_bpf, 0L, attr, 128L) >= 0);
	}
	{
		struct perf_event_attr pe;
		memset(&pe, 0, sizeof pe);
		pe.type = PERF_TYPE_SOFTWARE; pe.size = sizeof pe; pe.config = PERF_COUNT_SW_CPU_CLOCK;
		TRY("perf_event_open", syscall(SYS_perf_event_open, &pe, 0L, -1L, -1L, 0L) >= 0);
	}
	TRY("userfaultfd", syscall(SYS_userfaultfd, 0L) >= 0);
	TRY("sethostname", sethostname("evil", 4) == 0);
	TRY("setuid(0)", setuid(0) == 0);
	return finish();
}
`,
	},

	// ---- hostile compiles ----
	{
		name: "include_etc_shadow", lang: "c", want: []int{testserver.CompileError}, check: noShadow,
		code: `#include "/etc/shadow"
int main(void) { return 0; }
`,
	},
	{
		// An endless include: the compiler's own time, memory or output
		// limit ends it.
		name: "include_dev_random", lang: "c", want: []int{testserver.CompileError}, check: compileOutputCapped,
		code: `#include "/dev/random"
int main(void) { return 0; }
`,
	},
	{
		// Nested loops, each under -fconstexpr-loop-limit, 2^54 steps in
		// all: the compile time limit ends it (or the constexpr ops limit).
		name: "constexpr_explosion", lang: "cpp", want: []int{testserver.CompileError}, check: compileOutputCapped,
		code: `constexpr unsigned long long f() {
    unsigned long long s = 0;
    for (int i = 0; i < 200000; i++)
        for (int j = 0; j < 200000; j++)
            for (int k = 0; k < 200000; k++) s += i ^ j ^ k;
    return s;
}
constexpr unsigned long long x = f();
int main() { return (int)x; }
`,
	},
	{
		// Exponentially many distinct instantiations: memory or time.
		name: "template_explosion", lang: "cpp", want: []int{testserver.CompileError}, check: compileOutputCapped,
		code: `template <int N, unsigned M> struct T {
    static constexpr unsigned long v = T<N - 1, M * 2u + 1u>::v + T<N - 1, M * 3u + 7u>::v;
};
template <unsigned M> struct T<0, M> { static constexpr unsigned long v = M; };
int main() { return (int)T<40, 1>::v; }
`,
	},
	{
		name: "enormous_compiler_output", lang: "c", want: []int{testserver.CompileError}, check: compileOutputCapped,
		code: manyErrors(),
	},
}

// tmpfsFull wants the disk fill to have stopped at the tmpfs size.
func tmpfsFull(t *testing.T, r *testserver.Result) {
	t.Helper()
	if !strings.Contains(r.Stderr, "No space left on device") {
		t.Errorf("the disk fill did not end on ENOSPC: %s", r)
	}
}

// diskFill writes into the directory named on stdin until it cannot.
const diskFill = `#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
	char dir[64] = {0};
	if (scanf("%63s", dir) != 1) return 2;
	signal(SIGXFSZ, SIG_IGN);
	static char b[1 << 16];
	memset(b, 'd', sizeof b);
	long long total = 0;
	for (int i = 0; i < 10000; i++) {
		char p[128];
		snprintf(p, sizeof p, "%s/fill%d", dir, i);
		int fd = open(p, O_WRONLY | O_CREAT, 0644);
		if (fd < 0) { fprintf(stderr, "open %s: %s after %lld bytes\n", p, strerror(errno), total); return 1; }
		for (;;) {
			ssize_t n = write(fd, b, sizeof b);
			if (n > 0) { total += n; continue; }
			int e = errno;
			close(fd);
			if (e == EFBIG) break; /* the file size limit: next file */
			fprintf(stderr, "write %s: %s after %lld bytes\n", p, strerror(e), total);
			return 1;
		}
	}
	puts("ESCAPE wrote without end");
	return 0;
}
`

// probe is the job run after every case in the same sandbox: it lists
// what it can see of the previous job. It waits the seconds given on
// stdin first.
const probe = `import ctypes, errno, os, struct, sys, time
time.sleep(float(sys.stdin.read() or 0))
me, parent = os.getpid(), os.getppid()
found = []
# A fresh pid namespace: only the init (pid 1) and its threads came
# before the probe.
if me > 32:
    found.append('pid %d: the pid counter carried over' % me)
for e in os.listdir('/proc'):
    if not e.isdigit() or int(e) == me:
        continue
    try:
        cmd = open('/proc/%s/cmdline' % e, 'rb').read().replace(b'\0', b' ').decode(errors='replace')
    except OSError as ex:
        cmd = '? (%s)' % ex
    # pid 1 is the sandbox's init, the probe's own parent; in a gVisor
    # sandbox the parent is the runner that started the probe.
    if int(e) == 1 or int(e) == parent:
        continue
    found.append('process %s: %s' % (e, cmd))
for d in ('{{WORKDIR}}', '/tmp'):
    for e in sorted(os.listdir(d)):
        if d == '{{WORKDIR}}' and e == 'main.py':
            continue
        found.append('file %s/%s' % (d, e))
libc = ctypes.CDLL(None, use_errno=True)
# How many objects of a kind exist in the IPC namespace, from the kind's
# *_INFO call: gVisor's kernel has no /proc/sysvipc. The count is the
# first int of shm_info (used_ids) and msginfo (msgpool, for MSG_INFO),
# the eighth of seminfo (semusz, for SEM_INFO).
def ipc_count(k):
    buf = ctypes.create_string_buffer(512)
    n = {'shm': lambda: libc.shmctl(0, 14, buf), 'msg': lambda: libc.msgctl(0, 12, buf),
         'sem': lambda: libc.semctl(0, 0, 19, buf)}[k]()
    if n < 0:
        raise OSError(ctypes.get_errno(), '%s_INFO: %s' % (k.upper(), os.strerror(ctypes.get_errno())))
    return struct.unpack_from('8i', buf.raw)[7 if k == 'sem' else 0]
for k in ('shm', 'msg', 'sem'):
    try:
        lines = open('/proc/sysvipc/' + k).read().splitlines()[1:]
    except FileNotFoundError:
        try:
            if ipc_count(k):
                found.append('ipc %s: %d in use' % (k, ipc_count(k)))
        except OSError as ex:
            found.append('ipc %s: unreadable: %s' % (k, ex))
        continue
    except OSError as ex:
        found.append('ipc %s: unreadable: %s' % (k, ex))
        continue
    found += ['ipc %s: %s' % (k, l.strip()) for l in lines if l.strip()]
for q in (b'/leak', b'/leak2'):
    if libc.mq_open(q, os.O_RDONLY) >= 0 or ctypes.get_errno() != errno.ENOENT:
        found.append('mqueue %s: %s' % (q.decode(), os.strerror(ctypes.get_errno()) or 'open'))
# Only a named or a datagram socket could hold what a job left; the
# init's unnamed stream pair that started this probe is its own.
for l in open('/proc/net/unix').read().splitlines()[1:]:
    f = l.split()
    if not (len(f) == 7 and f[4] == '0001' and f[5] == '03'):
        found.append('unix socket: %s' % l)
print('\n'.join(found) if found else 'clean')
`

func (c hcase) job(s *testserver.Server) testserver.Job {
	return testserver.Job{
		Code:          expand(c.code, s),
		Language:      c.lang,
		Stdin:         expand(c.stdin, s),
		DesiredStdout: c.stdout,
		TimeLimit:     c.time,
		MemoryLimit:   c.memKiB,
		WallTimeLimit: c.wall,
	}
}

func verdictNames(codes []int) string {
	var n []string
	for _, c := range codes {
		n = append(n, testserver.VerdictName(c))
	}
	return strings.Join(n, " or ")
}

func hashFiles(paths []string, s *testserver.Server) map[string]string {
	h := map[string]string{}
	for _, p := range paths {
		p = expand(p, s)
		b, err := os.ReadFile(p)
		if err != nil {
			h[p] = "unreadable: " + err.Error()
			continue
		}
		h[p] = fmt.Sprintf("%x", sha256.Sum256(b))
	}
	return h
}

// verdictFailures checks the case's verdict, output and own check; with a
// named exception of the backend, what they find is logged instead.
func verdictFailures(t *testing.T, c hcase, r *testserver.Result) {
	t.Helper()
	var problems []string
	if !slices.Contains(c.want, r.Code) || r.Status != testserver.VerdictName(r.Code) {
		problems = append(problems, fmt.Sprintf("want %s, got %s", verdictNames(c.want), r))
	}
	if r.Code == testserver.Accepted && r.Stdout != c.stdout+"\n" && r.Stdout != c.stdout {
		problems = append(problems, fmt.Sprintf("stdout %q, want %q", r.Stdout, c.stdout))
	}
	if strings.Contains(r.Stdout, "ESCAPE") {
		problems = append(problems, fmt.Sprintf("containment failed: %s", r))
	}
	reason, excepted := exceptions.For(c.name)
	// A case's own check tests the same guarantee: under an exception
	// it is not run.
	if c.check != nil && !excepted {
		c.check(t, r)
	}
	switch {
	case !excepted:
		for _, p := range problems {
			t.Error(p)
		}
	case len(problems) == 0:
		t.Errorf("named exception %s/%s (%s) no longer needed: the case passed", testserver.Backend(), c.name, reason)
	default:
		t.Logf("named exception %s/%s: %s; found: %s", testserver.Backend(), c.name, reason, strings.Join(problems, "; "))
	}
}

// TestCorpus judges every case in turn on the pool-1 server and, after
// each, checks the sandbox with a probe job and the host.
func TestCorpus(t *testing.T) {
	requireServer(t)
	srv := shared
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Log(srv.LogTail(40))
				}
			}()
			hostBefore := hashFiles(c.hostFiles, srv)
			stBefore, err := status(srv)
			if err != nil {
				t.Fatal(err)
			}
			if c.hold != nil {
				defer c.hold(t)()
			}
			start := time.Now()
			r, err := judge(srv.URL(), c.job(srv))
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			t.Logf("%s: %s in %s: %s", c.name, r.Status, time.Since(start).Round(time.Millisecond), r)
			verdictFailures(t, c, r)
			if err := healthy(srv); err != nil {
				t.Fatalf("after the case: %v", err)
			}

			// The probe runs in the same sandbox: the pool has one.
			pr, err := judge(srv.URL(), testserver.Job{Code: expand(probe, srv), Language: "python", Stdin: strconv.FormatFloat(c.probeDelay, 'f', -1, 64),
				DesiredStdout: "clean", TimeLimit: 2, WallTimeLimit: 2 + c.probeDelay + 2})
			if err != nil {
				t.Fatalf("probe: %v", err)
			}
			if pr.Code != testserver.Accepted {
				t.Errorf("the next job in the sandbox saw what the case left (or failed): %s", pr)
			}
			stAfter, err := status(srv)
			if err != nil {
				t.Fatal(err)
			}
			if pr.Sandbox != r.Sandbox || stAfter.Restarts != stBefore.Restarts {
				t.Errorf("the case broke its sandbox: it ran in %q, the probe in %q; restarts %d -> %d",
					r.Sandbox, pr.Sandbox, stBefore.Restarts, stAfter.Restarts)
			}
			if err := healthy(srv); err != nil {
				t.Fatalf("after the probe: %v", err)
			}
			if err := waitIdle(srv, 1, settleTimeout); err != nil {
				t.Error(err)
			}
			if left := waitClean(srv, 1, settleTimeout); len(left) > 0 {
				t.Errorf("left on the host: %s", strings.Join(left, "; "))
			}
			if hostAfter := hashFiles(c.hostFiles, srv); fmt.Sprint(hostAfter) != fmt.Sprint(hostBefore) {
				t.Errorf("host files changed: before %v, after %v", hostBefore, hostAfter)
			}
		})
	}
}
