// Package chaos proves that Pecan's sandbox pool heals itself: it builds
// the real binary, starts a real server on the container backend with fault
// injection enabled, drives judge load while sandboxes fail in every way the
// fault injector knows (and while they are killed from outside), and checks
// that every client gets an honest answer, that the pool is back to full
// strength within 2 s of the faults stopping, and that nothing leaks. A
// second server is stopped with SIGTERM under load.
//
// It needs root (the container backend creates namespaces and cgroups); as
// another user every test is skipped. CI runs it as root.
//
// Like tests/e2e, servers keep their state in the user's cache directory
// (~/.cache/pecan/test-data), so the Go standard library is compiled once
// per machine and never under /tmp.
package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	startupTimeout  = 10 * time.Minute // a first start compiles Go's std
	shutdownTimeout = 3 * time.Minute
	promptShutdown  = 30 * time.Second
	poolSize        = 4 // of the shared fault-injection server
)

var (
	skipReason string
	tmpDir     string // per-run scratch: binaries, configs, logs
	repo       string // repository root
	bin        string // the built server binary
	shared     *server
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		skipReason = "chaos tests need root: the container backend creates namespaces and cgroups (CI runs as root)"
		fmt.Println("chaos:", skipReason)
		return m.Run()
	}
	fail := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "chaos: "+format+"\n", args...) }
	var err error
	if repo, err = repoRoot(); err != nil {
		fail("%v", err)
		return 1
	}
	if tmpDir, err = os.MkdirTemp("", "pecan-chaos-"); err != nil {
		fail("%v", err)
		return 1
	}
	defer os.RemoveAll(tmpDir)

	bin = filepath.Join(tmpDir, "pecan")
	build := exec.Command("go", "build", "-o", bin, "./cmd/pecan")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		fail("go build: %v\n%s", err, out)
		return 1
	}
	cfg, err := faultConfig()
	if err != nil {
		fail("%v", err)
		return 1
	}
	rootsBefore := tmpRoots()
	shared, err = startServer(bin, cfg, poolSize, "shared")
	if err != nil {
		fail("shared server: %v", err)
		return 1
	}

	code := m.Run()

	// The shared server survived every fault: it must still stop cleanly.
	if err := shared.stop(promptShutdown); err != nil {
		fail("shared server: %v", err)
		code = 1
	}
	if left := shared.leftovers(rootsBefore); len(left) > 0 {
		fail("shared server left behind: %s", strings.Join(left, "; "))
		code = 1
	}
	if code != 0 {
		shared.printLogTail()
	}
	return code
}

// faultConfig writes the repository's pecan.toml with [faults] enabled.
func faultConfig() (string, error) {
	b, err := os.ReadFile(filepath.Join(repo, "pecan.toml"))
	if err != nil {
		return "", err
	}
	const off, on = "\nenabled = false\n", "\nenabled = true\n"
	if bytes.Count(b, []byte(off)) != 1 {
		return "", errors.New("pecan.toml: expected exactly one line `enabled = false` (under [faults])")
	}
	path := filepath.Join(tmpDir, "pecan-faults.toml")
	return path, os.WriteFile(path, bytes.Replace(b, []byte(off), []byte(on), 1), 0o644)
}

// server is one running `pecan serve`.
type server struct {
	url     string
	bin     string
	pid     int
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // its exit status, once done is closed
}

// startServer starts bin with config and pool size and waits for
// /v1/health; name tells its log file apart.
func startServer(bin, config string, pool int, name string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s := &server{url: "http://" + addr, bin: bin, logPath: filepath.Join(tmpDir, name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own copy
	s.cmd = exec.Command(bin, "serve",
		"--config", config,
		"--data-dir", testDataDir(),
		"--listen", addr,
		"--pool-size", strconv.Itoa(pool))
	s.cmd.Dir = repo
	// A process group of its own: whatever the server signals as a group
	// must not reach this test process.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.cmd.Stdout = logFile
	s.cmd.Stderr = logFile
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	s.pid = s.cmd.Process.Pid
	go func() { s.waitErr = s.cmd.Wait(); close(s.done) }()
	if err := s.waitHealthy(); err != nil {
		_ = s.cmd.Process.Kill()
		<-s.done
		s.printLogTail()
		return nil, fmt.Errorf("not healthy: %w", err)
	}
	return s, nil
}

func (s *server) waitHealthy() error {
	deadline := time.Now().Add(startupTimeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := c.Get(s.url + "/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no 200 from /v1/health within %s (last error: %v)", startupTimeout, err)
		}
		select {
		case <-s.done:
			return fmt.Errorf("server exited during startup: %v", s.waitErr)
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and wants exit status 0 within prompt; past
// shutdownTimeout the server is killed.
func (s *server) stop(prompt time.Duration) error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	return s.waitExit(time.Now(), prompt)
}

// waitExit waits for the exit that a SIGTERM sent at since began.
func (s *server) waitExit(since time.Time, prompt time.Duration) error {
	select {
	case <-s.done:
	case <-time.After(shutdownTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("still running %s after SIGTERM; killed", shutdownTimeout)
	}
	if s.waitErr != nil {
		return fmt.Errorf("did not exit cleanly after SIGTERM: %v", s.waitErr)
	}
	if took := time.Since(since); took > prompt {
		return fmt.Errorf("took %s to exit after SIGTERM (want < %s)", took.Round(time.Millisecond), prompt)
	}
	return nil
}

// leftovers lists what an exited server left: processes of its binary
// (server or sandbox init), its cgroups, new sandbox roots. Processes that
// are already dying get a few seconds to go.
func (s *server) leftovers(rootsBefore map[string]bool) []string {
	var found []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		found = found[:0]
		for _, p := range procs() {
			if p.exe == s.bin || p.argv0 == s.bin {
				found = append(found, fmt.Sprintf("process %d: %q", p.pid, p.cmdline))
			}
		}
		if len(found) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, dir := range []string{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup"} {
		cg := filepath.Join(dir, fmt.Sprintf("pecan-%d", s.pid))
		if _, err := os.Stat(cg); err == nil {
			found = append(found, "cgroup "+cg)
		}
	}
	for d := range tmpRoots() {
		if !rootsBefore[d] {
			found = append(found, "sandbox root "+d)
		}
	}
	return found
}

// checkAlive fails t when the server has exited.
func (s *server) checkAlive(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
		t.Fatalf("server pid %d is gone: %v (log %s)", s.pid, s.waitErr, s.logPath)
	default:
	}
}

func (s *server) printLogTail() {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 100 {
		lines = lines[len(lines)-100:]
	}
	fmt.Fprintf(os.Stderr, "---- server log %s (last %d lines) ----\n%s\n----\n", s.logPath, len(lines), strings.Join(lines, "\n"))
}

// proc is one process from /proc.
type proc struct {
	pid, ppid     int
	argv0, exe    string
	cmdline       string // NULs as spaces
	isSandboxInit bool
}

func procs() []proc {
	var out []proc
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		f := strings.Fields(string(rest))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		exe, _ := os.Readlink(filepath.Join(dir, "exe"))
		out = append(out, proc{
			pid: pid, ppid: ppid, argv0: argv0,
			exe:           strings.TrimSuffix(exe, " (deleted)"),
			cmdline:       strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")),
			isSandboxInit: bytes.Contains(cmdline, []byte("container_init")),
		})
	}
	return out
}

// sandboxInits is the pids of the live sandbox init processes whose parent
// is the server.
func (s *server) sandboxInits() []int {
	var pids []int
	for _, p := range procs() {
		if p.ppid == s.pid && p.isSandboxInit {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// runCgroups lists per-run cgroups that still exist under the server's.
func (s *server) runCgroups() []string {
	var left []string
	for _, dir := range []string{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup"} {
		m, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("pecan-%d", s.pid), "run-*"))
		left = append(left, m...)
	}
	return left
}

// repoRoot walks up from the working directory to Pecan's go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/pecan-judge/pecan\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (go.mod of github.com/pecan-judge/pecan) not found above the working directory")
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tmpRoots is the set of sandbox root directories in os.TempDir().
func tmpRoots() map[string]bool {
	m := map[string]bool{}
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "pecan-root-*"))
	for _, d := range matches {
		m[d] = true
	}
	return m
}

// testDataDir is the persistent data dir shared with tests/e2e and bench.
func testDataDir() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = "/var/cache"
	}
	return filepath.Join(cache, "pecan", "test-data")
}

// needServer skips t when the servers cannot run here.
func needServer(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// needShared is needServer plus a live shared server.
func needShared(t *testing.T) {
	t.Helper()
	needServer(t)
	shared.checkAlive(t)
}
