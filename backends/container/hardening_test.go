package container

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/backends"
)

// compileC compiles src to /w/main in sb, as a job's compile step does,
// and moves what it made into a new container, as the job pipeline does
// after it: taken out, the sandbox reset, put in again.
func compileC(t *testing.T, sb backends.Sandbox, src string) {
	t.Helper()
	if err := sb.PutFile(context.Background(), "main.c", strings.NewReader(src), 0o644); err != nil {
		t.Fatal(err)
	}
	c := run(t, sb, []string{"/usr/bin/gcc", "-O2", "-o", "main", "main.c"}, "", backends.Limits{CPU: 10 * time.Second, Processes: 32, MemoryBytes: 512 << 20})
	if c.ExitCode != 0 || c.Signal != 0 {
		t.Fatalf("compile failed: %+v %s", c, c.Stderr)
	}
	type file struct {
		path string
		mode fs.FileMode
		data []byte
	}
	var files []file
	err := sb.Collect(context.Background(), "", 100, 64<<20, func(p string, mode fs.FileMode, r io.Reader) error {
		b, err := io.ReadAll(r)
		files = append(files, file{p, mode, b})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := sb.PutFile(context.Background(), f.path, bytes.NewReader(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
	}
}

func TestForeignABIKills(t *testing.T) {
	sb := newTestSandbox(t)
	compileC(t, sb, `#include <stdio.h>
int main(void) {
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory"); /* getpid */
	printf("returned %ld\n", r);
	return 0;
}
`)
	r := run(t, sb, []string{"./main"}, "", backends.Limits{})
	if r.Signal != int(syscall.SIGSYS) || len(r.Stdout) > 0 {
		t.Errorf("32-bit getpid: %+v stdout=%q, want killed by SIGSYS", r, r.Stdout)
	}
}

func TestResetGivesFreshNamespaces(t *testing.T) {
	sb := newTestSandbox(t)
	// The init's own threads take the first pids; a fresh container's
	// first run gets the same pid whatever ran before.
	// It also leaves a process holding a socket bound to an abstract
	// name in the network namespace, which the sandbox's containers share.
	leave := `import os, socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0pecan-left-behind")
if os.fork() == 0:
    time.sleep(100)`
	r := run(t, sb, []string{"/bin/sh", "-c", "echo $$; python3 -c '" + leave + "'; for i in $(seq 40); do /bin/true; done"}, "", backends.Limits{})
	first, _ := strconv.Atoi(strings.TrimSpace(string(r.Stdout)))
	if first <= 1 {
		t.Fatalf("first run's pid: %q", r.Stdout)
	}
	if err := sb.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The init's own unnamed stream pair that starts this very program is
	// not the previous job's: only named sockets or datagram ones could be.
	r = run(t, sb, []string{"/bin/sh", "-c", "echo $$; tail -n +2 /proc/net/unix | awk '!($5 == \"0001\" && $6 == \"03\" && NF == 7)'"}, "", backends.Limits{})
	lines := strings.Split(strings.TrimSpace(string(r.Stdout)), "\n")
	if next, _ := strconv.Atoi(lines[0]); next > first+4 || len(lines) != 1 {
		t.Errorf("after reset: pid and unix sockets %q; the first run had pid %d", r.Stdout, first)
	}
}

func TestSealedCompileOutput(t *testing.T) {
	sb := newTestSandbox(t)
	compileC(t, sb, `#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
int main(void) {
	printf("%d %d %d\n", open("/w/main", O_RDWR) >= 0, chmod("/w/main", 0777) == 0, open("/w/main", O_RDONLY) >= 0);
	return 0;
}
`)
	r := run(t, sb, []string{"./main"}, "", backends.Limits{})
	if got := string(r.Stdout); got != "0 0 1\n" {
		t.Errorf("open rw, chmod, open ro of the sealed program: %q %+v, want 0 0 1", got, r)
	}
}

func TestLocksSucceedWithoutEffect(t *testing.T) {
	sb := newTestSandbox(t)
	f, err := os.Open("/usr/bin/env")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	lk := syscall.Flock_t{Type: syscall.F_RDLCK}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	script := `import fcntl, os, struct
fd = os.open('/usr/bin/env', os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
try:
    r = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 0, 0))
    print('getlk', struct.unpack('hhqqi', r)[0])
except OSError as e:
    print('getlk errno', e.errno)
`
	r := run(t, sb, []string{"/usr/bin/python3", "-c", script}, "", backends.Limits{})
	if got := string(r.Stdout); got != "getlk errno 37\n" {
		t.Errorf("locks against the host's: %q %s, want flock to succeed and F_GETLK to answer ENOLCK (37)", got, r.Stderr)
	}
}

func TestStoppedChildIsTheProgramsFailure(t *testing.T) {
	b, err := New(Options{NoSeccomp: true, EtcFiles: []string{"/etc/alternatives"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sb, err := b.New(context.Background(), "stop")
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Destroy()
	compileC(t, sb, `#include <signal.h>
#include <sys/ptrace.h>
int main(void) { ptrace(PTRACE_TRACEME, 0, 0, 0); raise(SIGSTOP); return 0; }
`)
	r, err := sb.Run(context.Background(), backends.RunSpec{Args: []string{"./main"}})
	if err != nil || r.Signal == 0 {
		t.Fatalf("a traced program that stopped: %+v, %v; want a signal, no backend error", r, err)
	}
	if err := sb.Ping(); err != nil {
		t.Fatalf("sandbox after a stopped program: %v", err)
	}
}

func TestDevicesReadOnly(t *testing.T) {
	sb := newTestSandbox(t)
	var before syscall.Stat_t
	if err := syscall.Stat("/dev/zero", &before); err != nil {
		t.Fatal(err)
	}
	r := run(t, sb, []string{"/bin/sh", "-c", "touch /dev/zero; echo x > /dev/null && head -c 3 /dev/zero | wc -c"}, "", backends.Limits{})
	if got := strings.TrimSpace(string(r.Stdout)); got != "3" {
		t.Errorf("devices not usable: %q %s", got, r.Stderr)
	}
	var after syscall.Stat_t
	if err := syscall.Stat("/dev/zero", &after); err != nil {
		t.Fatal(err)
	}
	if after.Mtim != before.Mtim {
		t.Errorf("a job changed the host's /dev/zero: mtime %v -> %v", before.Mtim, after.Mtim)
	}
}

// TestResetAfterClose: a stuck job's Reset may come after its sandbox was
// destroyed and the backend closed; it builds nothing and says so.
func TestResetAfterClose(t *testing.T) {
	b, err := New(Options{EtcFiles: []string{"/etc/alternatives"}})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.New(context.Background(), "late")
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Destroy(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sb.Reset(context.Background()); !errors.Is(err, backends.ErrBroken) {
		t.Errorf("Reset after Close: %v, want ErrBroken", err)
	}
}

// TestNoJobIPCNamespaceKept: the IPC namespace a job used is freed
// after it, not kept by one of the init's threads (which would keep its
// objects, and their memory, for the container's life).
func TestNoJobIPCNamespaceKept(t *testing.T) {
	sb := newTestSandbox(t)
	r := run(t, sb, []string{"/usr/bin/readlink", "/proc/self/ns/ipc"}, "", backends.Limits{})
	used := strings.TrimSpace(string(r.Stdout))
	if !strings.HasPrefix(used, "ipc:[") {
		t.Fatalf("the job's IPC namespace: %q (stderr %q)", used, r.Stderr)
	}
	if err := sb.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, task := range initThreads(t, sb) {
		ns, err := os.Readlink(filepath.Join(task, "ns/ipc"))
		if err != nil {
			t.Fatal(err)
		}
		if ns == used {
			t.Errorf("init thread %s keeps %s, the IPC namespace of the job before the reset", task, ns)
		}
	}
}

// TestSignalsAtTheirDefaults: a program starts with no signal ignored,
// even when the server was started with some ignored (the init inherits
// them, and a program would too: a C program writing to a closed pipe
// must die of SIGPIPE).
func TestSignalsAtTheirDefaults(t *testing.T) {
	signal.Ignore(syscall.SIGPIPE, syscall.SIGHUP)
	defer signal.Reset(syscall.SIGPIPE, syscall.SIGHUP)
	sb := newTestSandbox(t)
	r := run(t, sb, []string{"/bin/cat", "/proc/self/status"}, "", backends.Limits{})
	for _, line := range strings.Split(string(r.Stdout), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			if strings.Trim(strings.TrimSpace(v), "0") != "" {
				t.Errorf("the program starts with signals ignored: SigIgn %s", strings.TrimSpace(v))
			}
			return
		}
	}
	t.Fatalf("no SigIgn in the program's status: %q", r.Stdout)
}

// TestSandboxesRunAsUIDsOfTheirOwn: two sandboxes' programs, and a
// validator's beside them, run as different uids (the kernel counts
// message queue bytes, pipe buffers and pending signals per user).
func TestSandboxesRunAsUIDsOfTheirOwn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the container backend needs root; CI runs as root")
	}
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	uidOf := func(sb backends.Sandbox) string {
		t.Helper()
		r := run(t, sb, []string{"/usr/bin/id", "-u"}, "", backends.Limits{})
		return strings.TrimSpace(string(r.Stdout))
	}
	one, err := b.New(context.Background(), "one")
	if err != nil {
		t.Fatal(err)
	}
	defer one.Destroy()
	two, err := b.New(context.Background(), "two")
	if err != nil {
		t.Fatal(err)
	}
	defer two.Destroy()
	beside, err := one.Beside(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	u1, u2, u3 := uidOf(one), uidOf(two), uidOf(beside)
	if u1 == "" || u1 == u2 || u1 == u3 || u2 == u3 {
		t.Errorf("uids of two sandboxes and a validator's: %q %q %q, want three different", u1, u2, u3)
	}
}
