package nsjail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/backends"
)

// testBinary is the nsjail make deps builds, or one in PATH; "" when
// neither is there (a machine without the tool: CI always builds it).
func testBinary() string {
	if p, err := filepath.Abs("../../.tools/bin/nsjail"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("nsjail"); err == nil {
		return p
	}
	return ""
}

func newTestBackend(t *testing.T) *Backend {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the nsjail backend needs root (mounts, namespaces, cgroups); CI runs as root")
	}
	bin := testBinary()
	if bin == "" {
		t.Skip("no nsjail binary: run make deps (CI always does)")
	}
	// /root stands for a toolchain below a directory only root may enter
	// (rustup's): nsjail must still bind it.
	b, err := New(Options{Binary: bin, StateDir: t.TempDir(), WorkDirMiB: 32, TmpMiB: 8, Mounts: []string{"/etc/alternatives", "/root"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return b
}

func newTestSandbox(t *testing.T, b *Backend) *sandbox {
	t.Helper()
	sb, err := b.New(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	s := sb.(*sandbox)
	t.Cleanup(func() {
		if err := s.Destroy(); err != nil {
			t.Errorf("destroy: %v", err)
		}
		if mounted(t, s.workPath()) {
			t.Errorf("work directory %s still mounted after Destroy", s.workPath())
		}
		if _, err := os.Stat(s.dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("sandbox directory %s left after Destroy: %v", s.dir, err)
		}
	})
	return s
}

func mounted(t *testing.T, dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

func run(t *testing.T, s *sandbox, lim backends.Limits, stdin string, args ...string) backends.RunResult {
	t.Helper()
	res, err := s.Run(context.Background(), backends.RunSpec{Args: args, Env: []string{"PATH=/usr/bin:/bin"}, Stdin: []byte(stdin), Limits: lim})
	if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return res
}

func TestRunPutCollectReset(t *testing.T) {
	b := newTestBackend(t)
	s := newTestSandbox(t, b)
	ctx := context.Background()
	if err := s.PutFile(ctx, "dir/in.txt", strings.NewReader("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := run(t, s, backends.Limits{}, "from stdin", "/bin/sh", "-c", `cat dir/in.txt; cat; echo err >&2; echo made > out.txt; echo t > /tmp/t; exit 3`)
	if string(res.Stdout) != "hellofrom stdin" || string(res.Stderr) != "err\n" || res.ExitCode != 3 || res.Signal != 0 {
		t.Fatalf("stdout %q stderr %q exit %d signal %d", res.Stdout, res.Stderr, res.ExitCode, res.Signal)
	}
	if res.CPU <= 0 || res.MemoryPeak == 0 || res.Wall <= 0 {
		t.Errorf("not measured: cpu %v memory %d wall %v", res.CPU, res.MemoryPeak, res.Wall)
	}
	got := map[string]string{}
	err := s.Collect(ctx, "", 10, 1<<20, func(p string, _ fs.FileMode, r io.Reader) error {
		b, err := io.ReadAll(r)
		got[p] = string(b)
		return err
	})
	if err != nil || got["out.txt"] != "made\n" || got["dir/in.txt"] != "hello" {
		t.Fatalf("collect = %v, %v", got, err)
	}
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	res = run(t, s, backends.Limits{}, "", "/bin/sh", "-c", `ls -A . /tmp`)
	if strings.Contains(string(res.Stdout), "out.txt") || strings.Contains(string(res.Stdout), "in.txt") || strings.Contains(string(res.Stdout), "t\n") {
		t.Errorf("files survived the reset: %q", res.Stdout)
	}
}

func TestLimits(t *testing.T) {
	b := newTestBackend(t)
	s := newTestSandbox(t, b)
	t.Run("cpu", func(t *testing.T) {
		res := run(t, s, backends.Limits{CPU: 500 * time.Millisecond}, "", "/bin/sh", "-c", "while :; do :; done")
		if !res.CPUExceeded || res.CPU < 500*time.Millisecond || res.CPU > 900*time.Millisecond {
			t.Errorf("cpu exceeded %v cpu %v", res.CPUExceeded, res.CPU)
		}
	})
	t.Run("wall", func(t *testing.T) {
		res := run(t, s, backends.Limits{CPU: time.Second, Wall: 700 * time.Millisecond}, "", "/bin/sleep", "5")
		if !res.WallExceeded || res.CPUExceeded || res.Wall < 700*time.Millisecond || res.Wall > 3*time.Second {
			t.Errorf("wall exceeded %v cpu exceeded %v wall %v", res.WallExceeded, res.CPUExceeded, res.Wall)
		}
	})
	t.Run("memory", func(t *testing.T) {
		// Python's bytearray touches every page it allocates.
		res := run(t, s, backends.Limits{MemoryBytes: 32 << 20}, "", "/usr/bin/python3", "-c", "b = bytearray(200 << 20)")
		if !res.OOM || res.Signal == 0 {
			t.Errorf("oom %v signal %d exit %d peak %d stderr %q", res.OOM, res.Signal, res.ExitCode, res.MemoryPeak, res.Stderr)
		}
	})
	t.Run("output", func(t *testing.T) {
		res := run(t, s, backends.Limits{OutputBytes: 1 << 16}, "", "/usr/bin/yes")
		if !res.OutputExceeded || len(res.Stdout) != 1<<16 || res.Signal == 0 {
			t.Errorf("output exceeded %v kept %d signal %d", res.OutputExceeded, len(res.Stdout), res.Signal)
		}
	})
	t.Run("processes", func(t *testing.T) {
		res := run(t, s, backends.Limits{Processes: 5}, "", "/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait")
		if !bytes.Contains(res.Stderr, []byte("fork")) && !bytes.Contains(res.Stderr, []byte("Resource")) {
			t.Errorf("8 processes under a limit of 5: exit %d stderr %q", res.ExitCode, res.Stderr)
		}
	})
	t.Run("tmp_size", func(t *testing.T) {
		res := run(t, s, backends.Limits{}, "", "/bin/sh", "-c", "head -c 10000000 /dev/zero > /tmp/big")
		if res.ExitCode == 0 || !bytes.Contains(res.Stderr, []byte("No space")) {
			t.Errorf("10 MB in an 8 MiB /tmp: exit %d stderr %q", res.ExitCode, res.Stderr)
		}
	})
	t.Run("file_size", func(t *testing.T) {
		res := run(t, s, backends.Limits{FileBytes: 1 << 20}, "", "/bin/sh", "-c", "head -c 2000000 /dev/zero > big")
		if res.ExitCode == 0 && res.Signal == 0 {
			t.Errorf("a 2 MB file under a 1 MiB limit was written")
		}
	})
}

// A destroyed sandbox refuses to run and leaves nothing in the state
// directory.
func TestDestroy(t *testing.T) {
	b := newTestBackend(t)
	a := newTestSandbox(t, b)
	if err := a.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Run(context.Background(), backends.RunSpec{Args: []string{"/bin/true"}}); !errors.Is(err, backends.ErrBroken) {
		t.Errorf("run after destroy: %v, want ErrBroken", err)
	}
}

// The policy refuses what it names, namespace flags of clone, x32 calls
// (ENOSYS) and lock tests (ENOLCK); /proc/cmdline is masked.
func TestSeccomp(t *testing.T) {
	b := newTestBackend(t)
	s := newTestSandbox(t, b)
	res := run(t, s, backends.Limits{}, "", "/usr/bin/python3", "-c", `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print(libc.syscall(101, 0, 0, 0, 0), ctypes.get_errno())            # ptrace(TRACEME)
print(libc.syscall(0x40000000 | 272, 0x10000000), ctypes.get_errno())  # x32 unshare(NEWUSER)
print(libc.syscall(39), "pid")                                       # getpid: allowed
print(libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0), ctypes.get_errno())  # clone(NEWUSER|SIGCHLD)
import fcntl, struct
fd = os.open("/usr/bin/env", os.O_RDONLY)
try:
    fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack("hhqqi", fcntl.F_RDLCK, 0, 0, 0, 0))
except OSError as e:
    print("getlk", e.errno)
print(len(open("/proc/cmdline").read()), "cmdline")
`)
	if got := string(res.Stdout); got != "-1 1\n-1 38\n1 pid\n-1 1\ngetlk 37\n0 cmdline\n" {
		t.Errorf("stdout %q stderr %q", got, res.Stderr)
	}
}

// A runtime that starts threads at once (node's platform workers) needs
// an unlimited stack limit to mean unlimited: nsjail's own flag cannot
// say so, and the thread stacks it implies fail.
func TestThreadedRuntime(t *testing.T) {
	if _, err := os.Stat("/usr/bin/node"); err != nil {
		t.Skip("no /usr/bin/node on this machine (CI has it)")
	}
	b := newTestBackend(t)
	s := newTestSandbox(t, b)
	res := run(t, s, backends.Limits{}, "", "/usr/bin/node", "-e", "console.log(6 * 7)")
	if string(res.Stdout) != "42\n" || res.ExitCode != 0 || res.Signal != 0 {
		t.Errorf("node: stdout %q exit %d signal %d stderr %.300q", res.Stdout, res.ExitCode, res.Signal, res.Stderr)
	}
}
