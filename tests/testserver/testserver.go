// Package testserver builds Pecan's binary and runs it as a real
// `pecan serve`, for the suites that need the whole server (tests/e2e,
// tests/chaos, tests/hostile) and for bench. It is the one place that knows
// how such a server is started, waited for, stopped and checked for
// leftovers (testserver.go), how a suite's TestMain runs one (suite.go),
// and how a job is sent to it (judge.go).
//
// Servers keep their state in the user's cache directory (DataDir), so the
// Go standard library is compiled once per machine and never under /tmp,
// where no data dir may be (sandboxes mount their own /tmp over it).
package testserver

import (
	"bytes"
	"context"
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
	"time"

	"github.com/pecan-judge/pecan/internal/proctable"
)

// KillAfter is how long Stop and WaitExit wait after SIGTERM before they
// kill the server: well past the server's grace period, so a kill means a
// hang, not a slow shutdown.
const KillAfter = 3 * time.Minute

// cgroupDirs are the hierarchies the container backend puts a server's
// cgroup (pecan-<pid>) in: cgroup v1 controllers and the v2 root.
func cgroupDirs() []string {
	return []string{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup"}
}

// RepoRoot walks up from the working directory to Pecan's go.mod.
func RepoRoot() (string, error) {
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

// DataDir is the persistent data dir shared by test and bench servers.
// It is outside the clone, which may sit under /tmp.
func DataDir() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = "/var/cache"
	}
	return filepath.Join(cache, "pecan", "test-data")
}

// PrebuiltEnv names a server binary, with its sandbox init beside it,
// that Build returns instead of building: for a suite run where nothing
// can be built, the cgroup v2 guest of tests/cgroup2, whose binaries are
// built on the host.
const PrebuiltEnv = "PECAN_TEST_PREBUILT"

// Build compiles ./cmd/pecan of the repository into dir, with the sandbox
// init beside it as make build installs it, and returns the server
// binary's path; with PrebuiltEnv set it returns that binary. Like make
// build, it bundles the playground first (`make playground`, which does
// nothing when the bundle is up to date).
func Build(dir string) (string, error) {
	if bin := os.Getenv(PrebuiltEnv); bin != "" {
		if _, err := os.Stat(sandboxInit(bin)); err != nil {
			return "", fmt.Errorf("%s=%s: no sandbox init beside it: %w", PrebuiltEnv, bin, err)
		}
		return bin, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bundle := exec.Command("make", "-s", "playground")
	bundle.Dir = root
	if msg, err := bundle.CombinedOutput(); err != nil {
		return "", fmt.Errorf("make playground: %w\n%s", err, msg)
	}
	bin := filepath.Join(dir, "pecan")
	for pkg, out := range map[string]string{"./cmd/pecan": bin, "./cmd/pecan-sandbox-init": sandboxInit(bin)} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Dir = root
		if pkg == "./cmd/pecan-sandbox-init" {
			// Linked statically, as make build does: one starts per job.
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
		}
		if msg, err := build.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
		}
	}
	return bin, nil
}

// sandboxInit is where the server binary bin finds its sandboxes' init.
func sandboxInit(bin string) string {
	return filepath.Join(filepath.Dir(bin), "pecan-sandbox-init")
}

// TmpRoots is the set of sandbox root directories (containers' in
// os.TempDir(), isolate's boxes and their mounts); taken before a server
// starts, it lets Leftovers tell that server's apart.
func TmpRoots() map[string]bool {
	m := map[string]bool{}
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "pecan-root-*"))
	for _, d := range matches {
		m[d] = true
	}
	for _, d := range isolateBoxes() {
		m[d] = true
	}
	for _, d := range boxMounts() {
		m["mount "+d] = true
	}
	return m
}

// Options say how to run `pecan serve`.
type Options struct {
	Bin     string   // the server binary, from Build
	Config  string   // --config
	DataDir string   // --data-dir; empty means DataDir()
	Pool    int      // --pool-size; 0 leaves the config's
	Dir     string   // working directory; empty means the current one
	LogPath string   // file for stdout and stderr; empty means os.Stderr
	Args    []string // more flags, e.g. --log-level
	Env     []string // more environment, KEY=VALUE, e.g. PECAN_AUTH_TOKENS=...
	// Backend is --backend; empty means Backend(), the suites' own.
	Backend string
	// AsyncStore is --async-store, the async queue's bbolt file. Empty
	// gives the server a store of its own in a temporary directory,
	// removed when it exits: servers share DataDir, and the store is
	// locked by the server that has it open. A test of restarts passes
	// the same path to each run.
	AsyncStore string
	// ProblemStore is --problem-store, the directory of the problem and
	// blob stores. Empty gives the server stores of their own in a
	// temporary directory, removed when it exits (the blob store is
	// locked, like the async store). A test of restarts passes the same
	// directory to each run.
	ProblemStore string
}

// Server is one running `pecan serve`.
type Server struct {
	url     string
	bin     string
	backend string // --backend
	pid     int
	cmd     *exec.Cmd
	logPath string
	// problemStore is the server's --problem-store.
	problemStore string
	done         chan struct{} // closed when the process has exited
	waitErr      error         // its exit status, once done is closed
}

// Start starts a server on a free port of 127.0.0.1. It does not wait for
// it to serve: see WaitHealthy.
func Start(o Options) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dataDir := o.DataDir
	if dataDir == "" {
		dataDir = DataDir()
	}
	store, problemStore, scratch := o.AsyncStore, o.ProblemStore, ""
	if store == "" || problemStore == "" {
		if scratch, err = os.MkdirTemp("", "pecan-stores-"); err != nil {
			return nil, fmt.Errorf("store dir: %w", err)
		}
	}
	if store == "" {
		store = filepath.Join(scratch, "async.db")
	}
	if problemStore == "" {
		problemStore = filepath.Join(scratch, "problems")
	}
	// Removes the scratch stores unless the server started and owns them.
	started := false
	defer func() {
		if !started && scratch != "" {
			os.RemoveAll(scratch)
		}
	}()
	args := []string{"serve", "--config", o.Config, "--data-dir", dataDir, "--listen", addr, "--async-store", store, "--problem-store", problemStore}
	if o.Pool > 0 {
		args = append(args, "--pool-size", strconv.Itoa(o.Pool))
	}
	backend := o.Backend
	if backend == "" {
		backend = Backend()
	}
	args = append(args, "--backend", backend)
	s := &Server{url: "http://" + addr, bin: o.Bin, backend: backend, logPath: o.LogPath, problemStore: problemStore, done: make(chan struct{})}
	var out *os.File = os.Stderr
	if o.LogPath != "" {
		logFile, err := os.Create(o.LogPath)
		if err != nil {
			return nil, fmt.Errorf("server log: %w", err)
		}
		defer logFile.Close() // the child holds its own copy
		out = logFile
	}
	// A binary just copied (CopyBinary) can be "busy" for a moment: a
	// process forked elsewhere in this test binary while the copy was
	// open for writing holds it until it execs. That passes; retry.
	retryUntil := time.Now().Add(10 * time.Second)
	for {
		s.cmd = exec.Command(o.Bin, append(args, o.Args...)...)
		s.cmd.Dir = o.Dir
		s.cmd.Env = serverEnv(o.Env)
		// A process group of its own: whatever the server signals as a
		// group must not reach the process that started it.
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		s.cmd.Stdout, s.cmd.Stderr = out, out
		err := s.cmd.Start()
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ETXTBSY) || time.Now().After(retryUntil) {
			return nil, fmt.Errorf("start server: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.pid = s.cmd.Process.Pid
	started = true
	go func() {
		s.waitErr = s.cmd.Wait()
		if scratch != "" {
			os.RemoveAll(scratch)
		}
		close(s.done)
	}()
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL is the server's base URL, http://127.0.0.1:<port>.
func (s *Server) URL() string { return s.url }

// PID is the server's process id, which also names its cgroups.
func (s *Server) PID() int { return s.pid }

// ProblemStore is the server's problem store directory: its blobs/ and
// problems/.
func (s *Server) ProblemStore() string { return s.problemStore }

// LogPath is the file the server logs to; empty for os.Stderr.
func (s *Server) LogPath() string { return s.logPath }

// WaitHealthy polls GET /v1/health until it answers 200, the server exits,
// or ctx ends.
func (s *Server) WaitHealthy(ctx context.Context) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/v1/health", nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("server exited during startup: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("no 200 from /v1/health: %w (last error: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// Exited reports whether the server has exited and, if so, its exit
// status.
func (s *Server) Exited() (bool, error) {
	select {
	case <-s.done:
		return true, s.waitErr
	default:
		return false, nil
	}
}

// Terminate sends SIGTERM; WaitExit then checks the shutdown.
func (s *Server) Terminate() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	return nil
}

// Stop sends SIGTERM and wants exit status 0 within prompt; past
// KillAfter the server is killed.
func (s *Server) Stop(prompt time.Duration) error {
	if err := s.Terminate(); err != nil {
		return err
	}
	return s.WaitExit(time.Now(), prompt)
}

// WaitExit waits for the exit that a SIGTERM sent at since began, and
// wants exit status 0 within prompt; past KillAfter the server is killed.
func (s *Server) WaitExit(since time.Time, prompt time.Duration) error {
	select {
	case <-s.done:
	case <-time.After(KillAfter):
		s.Kill()
		return fmt.Errorf("still running %s after SIGTERM; killed", KillAfter)
	}
	if s.waitErr != nil {
		return fmt.Errorf("did not exit cleanly after SIGTERM: %v", s.waitErr)
	}
	if took := time.Since(since); took > prompt {
		return fmt.Errorf("took %s to exit after SIGTERM (want < %s)", took.Round(time.Millisecond), prompt)
	}
	return nil
}

// Kill kills the server unless it has exited already, and waits for it:
// for servers that failed, which must not outlive their test.
func (s *Server) Kill() {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Leftovers lists what an exited server left: processes of its binary
// (server or sandbox init, which re-executes the server binary) or of the
// sandbox tools make deps built (isolate, nsjail), its
// cgroups, sandbox roots not in rootsBefore (from TmpRoots). Processes
// that are already dying get a few seconds to go.
func (s *Server) Leftovers(rootsBefore map[string]bool) []string {
	var found []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		found = found[:0]
		for _, p := range proctable.List() {
			if p.Exe == s.bin || p.Argv0 == s.bin || p.Exe == sandboxInit(s.bin) || isTool(p.Exe) {
				found = append(found, fmt.Sprintf("process %d: %q", p.PID, p.Cmdline))
			}
		}
		if len(found) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	found = append(found, gvisorLeftovers(s.pid)...)
	for _, dir := range cgroupDirs() {
		cg := filepath.Join(dir, fmt.Sprintf("pecan-%d", s.pid))
		if _, err := os.Stat(cg); err == nil {
			found = append(found, "cgroup "+cg)
		}
	}
	// Servers running beside this one build containers too: only roots
	// named for this server's pid are its own.
	own := filepath.Join(os.TempDir(), fmt.Sprintf("pecan-root-%d-", s.pid))
	for d := range TmpRoots() {
		if !rootsBefore[d] && strings.HasPrefix(d, own) {
			found = append(found, "sandbox root "+d)
		}
	}
	// isolate boxes and the tmpfs mounts of isolate and nsjail sandboxes
	// are not all named for a server: on those backends any new one is a
	// leftover (the suites run one backend at a time); a server of
	// another backend makes none, and is not blamed for another program's.
	if s.backend == Isolate {
		for _, d := range isolateBoxes() {
			if !rootsBefore[d] {
				found = append(found, "isolate box "+d)
			}
		}
	}
	if s.backend == Isolate || s.backend == Nsjail {
		for _, d := range boxMounts() {
			if !rootsBefore["mount "+d] {
				found = append(found, "mount "+d)
			}
		}
	}
	if _, err := os.Stat(nsjailStateDir(s.pid)); err == nil {
		found = append(found, "nsjail state dir "+nsjailStateDir(s.pid))
	}
	return found
}

// InitsPerSandbox is how many container inits a settled sandbox has: its
// container's, renewed in place between jobs.
const InitsPerSandbox = 1

// SandboxInits is the pids of the live sandbox init processes whose parent
// is the server.
func (s *Server) SandboxInits() []int {
	var pids []int
	for _, p := range proctable.List() {
		if p.PPID == s.pid && p.IsSandboxInit() {
			pids = append(pids, p.PID)
		}
	}
	return pids
}

// RunCgroups lists per-run cgroups that still exist under the server's.
func (s *Server) RunCgroups() []string {
	var left []string
	for _, dir := range cgroupDirs() {
		m, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("pecan-%d", s.pid), "run-*"))
		left = append(left, m...)
	}
	return left
}

// LogTail is the last n lines of the server's log, framed for printing;
// empty when there is no log file to read.
func (s *Server) LogTail(n int) string {
	if s.logPath == "" {
		return ""
	}
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("---- server log %s (last %d lines) ----\n%s\n----\n", s.logPath, len(lines), strings.Join(lines, "\n"))
}

// Memory is what /proc/<pid>/status says of a process's resident memory,
// in bytes: now (VmRSS) and at its peak since it started (VmHWM).
type Memory struct {
	RSS, Peak uint64
}

// Memory reads the server process's resident memory (its sandboxes are
// processes of their own and not counted).
func (s *Server) Memory() (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		return Memory{}, fmt.Errorf("server memory: %w", err)
	}
	var m Memory
	var found int
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kib, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("server memory: %s: %w", line, err)
		}
		if name == "VmRSS" {
			m.RSS = kib << 10
		} else {
			m.Peak = kib << 10
		}
		found++
	}
	if found != 2 {
		return Memory{}, fmt.Errorf("server memory: VmRSS and VmHWM not both in /proc/%d/status", s.pid)
	}
	return m, nil
}

// CopyBinary copies the server binary bin, and the sandbox init beside
// it, to dir/pecan, for a server that runs beside another: Leftovers tells
// servers' processes apart by their executable.
func CopyBinary(bin, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("copy binary: %w", err)
	}
	dst := filepath.Join(dir, "pecan")
	for from, to := range map[string]string{bin: dst, sandboxInit(bin): sandboxInit(dst)} {
		b, err := os.ReadFile(from)
		if err != nil {
			return "", fmt.Errorf("copy binary: %w", err)
		}
		if err := os.WriteFile(to, b, 0o755); err != nil {
			return "", fmt.Errorf("copy binary: %w", err)
		}
	}
	return dst, nil
}

// ClusterAddrs returns n loopback remoting addresses for cluster members
// whose port and the next one (the automanaged provider's membership
// endpoint) are both free.
func ClusterAddrs(n int) ([]string, error) { return ClusterAddrsOn("127.0.0.1", n) }

// ClusterAddrsOn is ClusterAddrs on the address host of this machine.
func ClusterAddrsOn(host string, n int) ([]string, error) {
	var out []string
	for tries := 0; len(out) < n; tries++ {
		if tries > 100 {
			return nil, errors.New("cluster addresses: no free pair of ports")
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("cluster addresses: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		next, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port+1)))
		l.Close()
		if err != nil {
			continue
		}
		next.Close()
		out = append(out, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return out, nil
}

// Pipes lists the server's open descriptors that are pipes ("fd 7:
// pipe:[1234]"), to be compared with a count taken when it was idle: a
// job's pipes must all be closed once it is done.
func (s *Server) Pipes() ([]string, error) {
	dir := fmt.Sprintf("/proc/%d/fd", s.pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list descriptors: %w", err)
	}
	var pipes []string
	for _, e := range entries {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(l, "pipe:") {
			pipes = append(pipes, "fd "+e.Name()+": "+l)
		}
	}
	return pipes, nil
}
