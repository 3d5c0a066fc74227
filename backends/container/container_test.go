package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	log "github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/container/initproc"
)

func TestMain(m *testing.M) {
	Init()
	os.Exit(m.Run())
}

func newTestSandbox(t *testing.T) backends.Sandbox {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the container backend needs root; CI runs as root")
	}
	b, err := New(Options{EtcFiles: []string{"/etc/alternatives"}, Logger: log.StandardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.New(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sb.Destroy(); err != nil {
			t.Error(err)
		}
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return sb
}

func run(t *testing.T, sb backends.Sandbox, args []string, stdin string, lim backends.Limits) backends.RunResult {
	t.Helper()
	res, err := sb.Run(context.Background(), backends.RunSpec{Args: args, Stdin: []byte(stdin), Limits: lim,
		Env: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return res
}

func TestCompileAndRunC(t *testing.T) {
	sb := newTestSandbox(t)
	src := "#include <stdio.h>\nint main(){long a,b;scanf(\"%ld %ld\",&a,&b);printf(\"%ld\\n\",a+b);}\n"
	if err := sb.PutFile(context.Background(), "main.c", strings.NewReader(src), 0o644); err != nil {
		t.Fatal(err)
	}
	c := run(t, sb, []string{"/usr/bin/gcc", "-O2", "-o", "main", "main.c"}, "", backends.Limits{CPU: 10 * time.Second, Processes: 32, MemoryBytes: 512 << 20})
	if c.ExitCode != 0 || c.Signal != 0 {
		t.Fatalf("compile failed: %+v %s", c, c.Stderr)
	}
	r := run(t, sb, []string{"./main"}, "1 2\n", backends.Limits{})
	if string(r.Stdout) != "3\n" || r.ExitCode != 0 {
		t.Fatalf("run: %+v", r)
	}
	if r.MemoryPeak == 0 || r.CPU <= 0 {
		t.Errorf("no measurements: %+v", r)
	}
	if err := sb.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = run(t, sb, []string{"/bin/sh", "-c", "ls /w"}, "", backends.Limits{})
	if strings.TrimSpace(string(r.Stdout)) != "" {
		t.Errorf("reset left files: %q", r.Stdout)
	}
}

func TestLimits(t *testing.T) {
	sb := newTestSandbox(t)
	r := run(t, sb, []string{"/usr/bin/python3", "-c", "while True: pass"}, "", backends.Limits{CPU: 500 * time.Millisecond})
	if !r.CPUExceeded || r.CPU < 500*time.Millisecond || r.CPU > 700*time.Millisecond {
		t.Errorf("cpu loop: %+v", r)
	}
	r = run(t, sb, []string{"/bin/sleep", "10"}, "", backends.Limits{CPU: time.Second, Wall: 300 * time.Millisecond})
	if !r.WallExceeded || r.CPUExceeded {
		t.Errorf("sleep: %+v", r)
	}
	r = run(t, sb, []string{"/usr/bin/python3", "-c", "x = bytearray(400 << 20); print(len(x))"}, "", backends.Limits{MemoryBytes: 64 << 20})
	if !r.OOM {
		t.Errorf("memory: %+v stderr=%s", r, r.Stderr)
	}
	r = run(t, sb, []string{"/usr/bin/yes"}, "", backends.Limits{OutputBytes: 1 << 20})
	if !r.OutputExceeded || len(r.Stdout) != 1<<20 {
		t.Errorf("flood: exceeded=%v len=%d", r.OutputExceeded, len(r.Stdout))
	}
	r = run(t, sb, []string{"/bin/sh", "-c", "exit 3"}, "", backends.Limits{})
	if r.ExitCode != 3 {
		t.Errorf("exit: %+v", r)
	}
	r = run(t, sb, []string{"/bin/sh", "-c", "kill -SEGV $$"}, "", backends.Limits{})
	if r.Signal != 11 {
		t.Errorf("signal: %+v", r)
	}
}

// TestInitPIDIsTheContainerInit checks the pid the sandbox reports: a
// child of this process running as a container init, the same one after
// a Reset (which renews the container in place).
func TestInitPIDIsTheContainerInit(t *testing.T) {
	sb := newTestSandbox(t)
	first := sb.(interface{ InitPID() int }).InitPID()
	if first <= 0 {
		t.Fatalf("InitPID = %d", first)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", first))
	if err != nil || !bytes.Contains(cmdline, []byte(initproc.InitArg)) {
		t.Fatalf("pid %d is not a container init: %q %v", first, cmdline, err)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", first))
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); f[1] != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid %d has parent %s, not this process", first, f[1])
	}
	if err := sb.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	if next := sb.(interface{ InitPID() int }).InitPID(); next != first {
		t.Fatalf("InitPID is %d after a Reset, %d before", next, first)
	}
}

func TestKilledInitBreaksSandbox(t *testing.T) {
	sb := newTestSandbox(t)
	pid := sb.(interface{ InitPID() int }).InitPID()
	if pid <= 0 {
		t.Fatalf("InitPID = %d", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for sb.Ping() == nil {
		if time.Now().After(deadline) {
			t.Fatal("sandbox still answers ping after its init was killed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, err := sb.Run(context.Background(), backends.RunSpec{Args: []string{"/bin/true"}})
	if !errors.Is(err, backends.ErrBroken) {
		t.Fatalf("run in a dead sandbox: %v, want ErrBroken", err)
	}
}

func TestSeccompDeniesNamespacesAndAdminCalls(t *testing.T) {
	sb := newTestSandbox(t)
	// Each command exits 0 only when the kernel refused the call.
	for _, cmd := range []string{
		"! /usr/bin/unshare -U /bin/true",    // unshare(CLONE_NEWUSER)
		"! /usr/bin/unshare -r -n /bin/true", // user and network namespaces
		// io_uring_setup (425) fails with EPERM (1), not ENOSYS.
		"/usr/bin/python3 -c 'import ctypes,sys; l=ctypes.CDLL(None,use_errno=True); sys.exit(0 if l.syscall(425,1,0)==-1 and ctypes.get_errno()==1 else 7)'",
	} {
		r := run(t, sb, []string{"/bin/sh", "-c", cmd}, "", backends.Limits{})
		if r.ExitCode != 0 || r.Signal != 0 {
			t.Errorf("%s: not denied: %+v %s", cmd, r, r.Stderr)
		}
	}
	// Threads still work: glibc falls back from clone3 to clone.
	r := run(t, sb, []string{"/usr/bin/python3", "-c", "import threading; t=threading.Thread(target=print, args=('ok',)); t.start(); t.join()"}, "", backends.Limits{})
	if string(r.Stdout) != "ok\n" {
		t.Errorf("threads under seccomp: %+v %s", r, r.Stderr)
	}
}

func TestResetRemovesIPCObjects(t *testing.T) {
	sb := newTestSandbox(t)
	r := run(t, sb, []string{"/bin/sh", "-c", "(ipcmk -M 4096 && ipcmk -Q && ipcmk -S 2) >/dev/null && ipcs | grep -c 0x"}, "", backends.Limits{})
	if strings.TrimSpace(string(r.Stdout)) != "3" {
		t.Fatalf("could not create IPC objects: %+v %s", r, r.Stderr)
	}
	if err := sb.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = run(t, sb, []string{"/bin/sh", "-c", "ipcs | grep -c 0x"}, "", backends.Limits{})
	if got := strings.TrimSpace(string(r.Stdout)); got != "0" {
		t.Errorf("%s IPC objects survived the reset: %s", got, r.Stdout)
	}
}

// TestProcessLimitIsExact: a program limited to 4 processes creates
// exactly 3 more (the init's thread that created it, counted by the
// cgroup meanwhile, takes none of them), and no thread of the init is
// left in a run's cgroup after the run.
func TestProcessLimitIsExact(t *testing.T) {
	sb := newTestSandbox(t)
	forks := `import os
n = 0
while n < 10:
    try:
        if os.fork() == 0:
            os.pause()
    except OSError:
        break
    n += 1
print(n)`
	r := run(t, sb, []string{"/usr/bin/python3", "-c", forks}, "", backends.Limits{Processes: 4})
	if got := strings.TrimSpace(string(r.Stdout)); got != "3" {
		t.Errorf("forks under a limit of 4 processes: %q (stderr %q), want 3", got, r.Stderr)
	}
	for _, task := range initThreads(t, sb) {
		cg, err := os.ReadFile(filepath.Join(task, "cgroup"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(cg), "/run-") {
			t.Errorf("init thread %s is still in a run's cgroup:\n%s", task, cg)
		}
	}
}

// initThreads are the /proc directories of the threads of sb's init.
func initThreads(t *testing.T, sb backends.Sandbox) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/task", sb.(interface{ InitPID() int }).InitPID())
	tasks, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, task := range tasks {
		out = append(out, filepath.Join(dir, task.Name()))
	}
	return out
}
