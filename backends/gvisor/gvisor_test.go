package gvisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/backends"
)

// runnerBin is pecan-sandbox-init built for the tests, or "" with
// skipReason set.
var (
	runnerBin  string
	skipReason string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	switch {
	case os.Geteuid() != 0:
		skipReason = "gVisor sandboxes need root (CI runs as root)"
		return m.Run()
	}
	if _, err := exec.LookPath("runsc"); err != nil {
		fmt.Fprintln(os.Stderr, "runsc not installed: make deps installs Debian's runsc")
		return 1
	}
	dir, err := os.MkdirTemp("", "pecan-gvisor-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	runnerBin = filepath.Join(dir, "pecan-sandbox-init")
	build := exec.Command("go", "build", "-o", runnerBin, "github.com/pecan-judge/pecan/cmd/pecan-sandbox-init")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build runner: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// newBackend starts a backend and checks, when the test ends, that it
// left no runsc process, state directory or cgroup.
func newBackend(t *testing.T) *Backend {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	state := t.TempDir()
	b, err := New(Options{Runner: runnerBin, StateDir: state, EtcFiles: []string{"/etc/ld.so.cache"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		for _, l := range leftovers(state) {
			t.Errorf("left behind: %s", l)
		}
	})
	return b
}

// processesOf lists the processes whose command line names dir: runsc's
// sandboxes, gofers and stubs carry their --root.
func processesOf(dir string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(dir)) {
			found = append(found, fmt.Sprintf("process %s: %q", e.Name(), bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		}
	}
	return found
}

func leftovers(state string) []string {
	found := processesOf(state)
	if _, err := os.Stat(filepath.Join(state, fmt.Sprint(os.Getpid()))); err == nil {
		found = append(found, "state dir")
	}
	cgs, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/*/pecan-%d", os.Getpid()))
	found = append(found, cgs...)
	return found
}

func newSandbox(t *testing.T, b *Backend) backends.Sandbox {
	t.Helper()
	s, err := b.New(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Destroy(); err != nil {
			t.Errorf("destroy: %v", err)
		}
	})
	return s
}

func run(t *testing.T, s backends.Sandbox, spec backends.RunSpec) backends.RunResult {
	t.Helper()
	if spec.Env == nil {
		spec.Env = []string{"PATH=/usr/bin:/bin", "HOME=/tmp"}
	}
	if spec.Limits.CPU == 0 {
		spec.Limits.CPU = 2 * time.Second
	}
	res, err := s.Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("run %q: %v", spec.Args, err)
	}
	return res
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func TestRunPutCollect(t *testing.T) {
	s := newSandbox(t, newBackend(t))
	ctx := context.Background()
	src := "import sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)\n"
	if err := s.PutFile(ctx, "src/main.py", strings.NewReader(src), 0o644); err != nil {
		t.Fatal(err)
	}
	res := run(t, s, backends.RunSpec{Args: []string{"/usr/bin/python3", "src/main.py"}, Stdin: []byte("1 2\n")})
	if string(res.Stdout) != "3\n" || res.ExitCode != 0 || res.Signal != 0 {
		t.Fatalf("A+B: %+v, stderr %q", res, res.Stderr)
	}
	// The program's own memory, not the runner's that started it.
	if res.CPU <= 0 || res.MemoryPeak == 0 || res.MemoryPeak > 20<<20 || res.Wall <= 0 {
		t.Errorf("measurements: cpu %v memory %d wall %v", res.CPU, res.MemoryPeak, res.Wall)
	}
	// A program of a millisecond or two still has its memory seen.
	for i := 0; i < 5; i++ {
		if r := run(t, s, backends.RunSpec{Args: []string{"/bin/true"}}); r.MemoryPeak == 0 || r.ExitCode != 0 {
			t.Errorf("/bin/true: %+v", r)
		}
	}
	// The file is the sandbox root's: programs read it, never change it.
	res = run(t, s, backends.RunSpec{Args: sh("echo x >> src/main.py; id -u; mkdir -p out/d && echo hi > out/d/f && ln -s /etc/passwd out/link && chmod 755 out/d/f")})
	if !strings.Contains(string(res.Stderr), "Permission denied") || strings.TrimSpace(string(res.Stdout)) != "1000" {
		t.Errorf("program changed a put file or ran as root: %+v", res)
	}
	got := map[string]string{}
	err := s.Collect(ctx, "out", 10, 1<<20, func(p string, mode fs.FileMode, r io.Reader) error {
		b, err := io.ReadAll(r)
		got[p] = fmt.Sprintf("%o %s", mode, b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["out/d/f"] != "755 hi\n" {
		t.Errorf("collected %v, want only out/d/f (links are not followed)", got)
	}
	if err := s.Collect(ctx, "", 1, 1<<20, func(string, fs.FileMode, io.Reader) error { return nil }); err == nil {
		t.Error("collect of two files with maxFiles 1 succeeded")
	}
	if err := s.Collect(ctx, "missing", 1, 1, func(string, fs.FileMode, io.Reader) error { return errors.New("called") }); err != nil {
		t.Errorf("collect of a missing dir: %v", err)
	}
}

// forkEight forks eight children that wait, and prints how many forks
// succeeded.
const forkEight = `import os, time
n = 0
for i in range(8):
    try:
        if os.fork() == 0:
            time.sleep(1)
            os._exit(0)
        n += 1
    except OSError:
        pass
print(n)
`

// forkBomb forks spinning children for as long as it may.
const forkBomb = `import os
while True:
    try:
        if os.fork() == 0:
            while True:
                pass
    except OSError:
        pass
`

func TestLimits(t *testing.T) {
	s := newSandbox(t, newBackend(t))
	cases := []struct {
		name  string
		spec  backends.RunSpec
		check func(backends.RunResult) bool
	}{
		{"cpu", backends.RunSpec{Args: sh("while :; do :; done"), Limits: backends.Limits{CPU: 500 * time.Millisecond}},
			func(r backends.RunResult) bool {
				return r.CPUExceeded && r.Signal == int(syscall.SIGKILL) && r.CPU >= 500*time.Millisecond
			}},
		// Spinning children spend the CPU limit together, as in a cgroup.
		{"fork bomb", backends.RunSpec{Args: []string{"/usr/bin/python3", "-c", forkBomb}, Limits: backends.Limits{CPU: time.Second, Wall: 20 * time.Second, Processes: 16}},
			func(r backends.RunResult) bool { return r.CPUExceeded && r.Wall < 10*time.Second }},
		{"wall", backends.RunSpec{Args: sh("sleep 5"), Limits: backends.Limits{CPU: time.Second, Wall: 500 * time.Millisecond}},
			func(r backends.RunResult) bool { return r.WallExceeded && !r.CPUExceeded && r.Wall < 3*time.Second }},
		{"memory", backends.RunSpec{Args: []string{"/usr/bin/python3", "-c", "x = bytearray(200 << 20)\nx[::4096] = b'x' * len(x[::4096])"}, Limits: backends.Limits{MemoryBytes: 64 << 20}},
			func(r backends.RunResult) bool { return r.OOM && r.Signal != 0 }},
		{"output", backends.RunSpec{Args: sh("yes"), Limits: backends.Limits{OutputBytes: 1 << 16}},
			func(r backends.RunResult) bool { return r.OutputExceeded && len(r.Stdout) == 1<<16 }},
		{"processes", backends.RunSpec{Args: []string{"/usr/bin/python3", "-c", forkEight}, Limits: backends.Limits{Processes: 4}},
			func(r backends.RunResult) bool {
				n := strings.TrimSpace(string(r.Stdout))
				return n != "" && n != "8" && r.ExitCode == 0
			}},
		{"file size", backends.RunSpec{Args: sh("head -c 200000 /dev/zero > big"), Limits: backends.Limits{FileBytes: 100000}},
			func(r backends.RunResult) bool { return r.Signal == int(syscall.SIGXFSZ) || r.ExitCode != 0 }},
		{"exit code", backends.RunSpec{Args: sh("exit 3")},
			func(r backends.RunResult) bool { return r.ExitCode == 3 && r.Signal == 0 }},
		{"signal", backends.RunSpec{Args: sh("kill -SEGV $$")},
			func(r backends.RunResult) bool { return r.Signal == int(syscall.SIGSEGV) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, s, c.spec)
			if !c.check(r) {
				out := r.Stdout
				r.Stdout = nil
				t.Errorf("%+v (stdout %d bytes, starting %.80q; stderr %.200q)", r, len(out), out, r.Stderr)
			}
		})
	}
}

// A job's processes die with the run, and a reset leaves nothing: files,
// IPC objects or the pid counter.
func TestNothingSurvives(t *testing.T) {
	s := newSandbox(t, newBackend(t))
	res := run(t, s, backends.RunSpec{Args: sh("(setsid sleep 100 &); echo secret > /tmp/f; for i in $(seq 40); do /bin/true; done; sh -c 'echo $$'")})
	var last int
	if _, err := fmt.Sscan(string(res.Stdout), &last); err != nil {
		t.Fatalf("pid: %q: %v", res.Stdout, err)
	}
	res = run(t, s, backends.RunSpec{Args: sh("ps -eo user,args | grep -c '[s]leep 100'")})
	if strings.TrimSpace(string(res.Stdout)) != "0" {
		t.Errorf("a process of the last run survived: %q", res.Stdout)
	}
	if err := s.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	res = run(t, s, backends.RunSpec{Args: sh("echo $$; cat /tmp/f 2>/dev/null; ls /w")})
	var first int
	if n, _ := fmt.Sscan(string(res.Stdout), &first); n != 1 || len(strings.Fields(string(res.Stdout))) != 1 || first >= last {
		t.Errorf("after a reset: %q, want only a pid below the last job's %d", res.Stdout, last)
	}
	if err := s.Ping(); err != nil {
		t.Errorf("ping: %v", err)
	}
}

// A server killed with SIGKILL leaves its gVisor sandboxes running (runsc
// daemonises them); the next server's backend deletes them, their state
// and their cgroups.
func TestRemovesWhatADeadServerLeft(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	pid := dead.Process.Pid // exited and reaped: no process has it now
	state := t.TempDir()
	opts := Options{Runner: runnerBin, StateDir: state, Runsc: "runsc", Platform: "ptrace", WorkDirMiB: 16, TmpMiB: 16, SandboxMemoryMiB: 512, SandboxPids: 512, UID: 1000}
	opts.Runsc, _ = exec.LookPath("runsc")
	old := backendFor(opts, pid)
	if err := os.MkdirAll(old.rootfs(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(old.root, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := old.start(context.Background(), "orphan"); err != nil {
		t.Fatal(err)
	}
	deadState := filepath.Join(state, fmt.Sprint(pid))
	if len(processesOf(deadState)) == 0 {
		t.Fatal("the orphan sandbox is not running: nothing to remove")
	}
	b, err := New(Options{Runner: runnerBin, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, l := range processesOf(deadState) {
		t.Errorf("left of the dead server: %s", l)
	}
	if _, err := os.Stat(deadState); err == nil {
		t.Errorf("the dead server's state %s is still there", deadState)
	}
	if cgs, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/*/pecan-%d", pid)); len(cgs) > 0 {
		t.Errorf("cgroups of the dead server: %v", cgs)
	}
}
