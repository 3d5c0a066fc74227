// Package e2e is Pecan's end-to-end suite: it builds the real binary,
// starts one real server with the container backend and judges real
// programs in all shipped languages through the HTTP API.
//
// It needs root (the container backend creates namespaces and cgroups);
// as another user every test is skipped. CI runs it as root.
//
// The server keeps its state in the user's cache directory
// (~/.cache/pecan/test-data) so the Go standard library is compiled only on
// the first run. Not in the clone: a clone may sit under /tmp, where no
// data dir may be (sandboxes mount their own /tmp over it).
package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	startupTimeout  = 10 * time.Minute // first start compiles Go's std
	shutdownTimeout = 3 * time.Minute
	promptShutdown  = 30 * time.Second
	requestTimeout  = 5 * time.Minute
	// maxInFlight bounds judge requests in flight from this suite, so that a
	// machine with many CPUs (large -parallel) does not queue more work than
	// the two sandboxes finish within the server's per-request deadline.
	// It is still more than the pool size, so the server's queue is used.
	maxInFlight = 4
)

var (
	skipReason string
	baseURL    string
	client     = &http.Client{Timeout: requestTimeout}
	inFlight   = make(chan struct{}, maxInFlight)
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		skipReason = "e2e tests need root: the container backend creates namespaces and cgroups (CI runs as root)"
		fmt.Println("e2e:", skipReason)
		return m.Run()
	}
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "pecan-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	bin := filepath.Join(tmp, "pecan")
	build := exec.Command("go", "build", "-o", bin, "./cmd/pecan")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build: %v\n%s", err, out)
		return 1
	}
	port, err := freePort()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	baseURL = "http://" + addr

	logPath := filepath.Join(tmp, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer logFile.Close()
	tmpRootsBefore := tmpRoots()

	srv := exec.Command(bin, "serve",
		"--config", filepath.Join(root, "pecan.toml"),
		"--data-dir", testDataDir(),
		"--listen", addr,
		"--pool-size", "2")
	srv.Dir = root
	srv.Stdout = logFile
	srv.Stderr = logFile
	if err := srv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start server:", err)
		return 1
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	pid := srv.Process.Pid

	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
	}
	if err := waitHealthy(exited); err != nil {
		fail("server did not become healthy: %v", err)
		_ = srv.Process.Kill()
		printLogTail(logPath)
		return 1
	}

	code := m.Run()

	// Shutdown must be clean and prompt: nothing is in flight any more, so
	// exit status 0 well within the server's grace period. The client's
	// idle keep-alive connections stay open, as a real client's would.
	stopAt := time.Now()
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		fail("SIGTERM: %v", err)
		code = 1
	}
	select {
	case err := <-exited:
		if err != nil {
			fail("server did not exit cleanly after SIGTERM: %v", err)
			code = 1
		}
		if took := time.Since(stopAt); took > promptShutdown {
			fail("server took %s to exit after SIGTERM with no request in flight (want < %s)", took.Round(time.Millisecond), promptShutdown)
			code = 1
		}
	case <-time.After(shutdownTimeout):
		fail("server still running %s after SIGTERM; killing it", shutdownTimeout)
		_ = srv.Process.Kill()
		<-exited
		code = 1
	}

	// Nothing may be left behind.
	if procs := leftoverProcesses(bin); len(procs) > 0 {
		fail("processes of the server binary survived it: %s", strings.Join(procs, "; "))
		code = 1
	}
	for _, dir := range []string{
		"/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup",
	} {
		cg := filepath.Join(dir, fmt.Sprintf("pecan-%d", pid))
		if _, err := os.Stat(cg); err == nil {
			fail("cgroup %s left behind", cg)
			code = 1
		}
	}
	for d := range tmpRoots() {
		if !tmpRootsBefore[d] {
			fail("sandbox root %s left behind", d)
			code = 1
		}
	}
	if code != 0 {
		printLogTail(logPath)
	}
	return code
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

// waitHealthy polls GET /v1/health until it answers 200, the server
// exits, or startupTimeout passes.
func waitHealthy(exited <-chan error) error {
	deadline := time.Now().Add(startupTimeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := c.Get(baseURL + "/v1/health")
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
		case err := <-exited:
			return fmt.Errorf("server exited during startup: %v", err)
		case <-tick.C:
		}
	}
}

// leftoverProcesses lists live processes running bin: the server itself or
// a sandbox's init (which re-executes the server binary). Processes that
// are already dying get a few seconds to go.
func leftoverProcesses(bin string) []string {
	var found []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		found = found[:0]
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid := e.Name()
			if pid[0] < '0' || pid[0] > '9' {
				continue
			}
			cmdline, _ := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
			argv0, _, _ := strings.Cut(string(cmdline), "\x00")
			exe, _ := os.Readlink(filepath.Join("/proc", pid, "exe"))
			exe = strings.TrimSuffix(exe, " (deleted)")
			if argv0 == bin || exe == bin {
				found = append(found, fmt.Sprintf("pid %s: %q", pid, strings.ReplaceAll(string(cmdline), "\x00", " ")))
			}
		}
		if len(found) == 0 || time.Now().After(deadline) {
			return found
		}
		time.Sleep(100 * time.Millisecond)
	}
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

func printLogTail(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 100 {
		lines = lines[len(lines)-100:]
	}
	fmt.Fprintf(os.Stderr, "---- server log (last %d lines) ----\n%s\n----\n", len(lines), strings.Join(lines, "\n"))
}

// start marks a test parallel and skips it when the server could not run.
func start(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	t.Parallel()
}

// job is a judge-single request. Zero limits are omitted, so the server's
// defaults apply.
type job struct {
	Code          string  `json:"code"`
	Language      string  `json:"language"`
	Stdin         string  `json:"stdin"`
	DesiredStdout string  `json:"desired_stdout"`
	TimeLimit     float64 `json:"time_limit,omitempty"`
	MemoryLimit   int64   `json:"memory_limit,omitempty"`
	WallTimeLimit float64 `json:"wall_time_limit,omitempty"`
	Checker       string  `json:"checker,omitempty"`
}

// result is a judge-single response.
type result struct {
	Code          int     `json:"code"`
	Status        string  `json:"status"`
	Stdout        string  `json:"stdout"`
	Stderr        string  `json:"stderr"`
	Time          float64 `json:"time"`
	Memory        int64   `json:"memory"`
	WallTime      float64 `json:"wall_time"`
	ExitCode      int     `json:"exit_code"`
	Signal        int     `json:"signal"`
	CompileOutput string  `json:"compile_output"`
}

func (r *result) String() string {
	return fmt.Sprintf("code=%d status=%s time=%.3f memory=%d wall=%.3f exit=%d signal=%d stdout=%q stderr=%q compile_output=%q",
		r.Code, r.Status, r.Time, r.Memory, r.WallTime, r.ExitCode, r.Signal,
		clip(r.Stdout), clip(r.Stderr), clip(r.CompileOutput))
}

func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + "...[" + fmt.Sprint(len(s)) + " bytes]"
	}
	return s
}

// judge posts j and returns the decoded verdict; anything but 200 fails t.
func judge(t *testing.T, j job) *result {
	t.Helper()
	body, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	inFlight <- struct{}{}
	status, resp := post(t, "/v1/judge/judge-single", "application/json", body)
	<-inFlight
	if status != http.StatusOK {
		t.Fatalf("judge %s: HTTP %d: %s", j.Language, status, clip(string(resp)))
	}
	var r result
	if err := json.Unmarshal(resp, &r); err != nil {
		t.Fatalf("judge %s: decode %q: %v", j.Language, clip(string(resp)), err)
	}
	return &r
}

func post(t *testing.T, path, contentType string, body []byte) (int, []byte) {
	t.Helper()
	status, b, err := rawPost(path, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, b
}

// rawPost is post for goroutines other than the test's.
func rawPost(path, contentType string, body []byte) (int, []byte, error) {
	resp, err := client.Post(baseURL+path, contentType, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: read body: %v", path, err)
	}
	return resp.StatusCode, b, nil
}

func get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := client.Get(baseURL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, b
}

// expect checks the verdict code and, for verdicts of a run that happened,
// that CPU time and peak memory were measured.
func expect(t *testing.T, r *result, code int) {
	t.Helper()
	if r.Code != code || r.Status != statusName[code] {
		t.Fatalf("want %d %s, got %s", code, statusName[code], r)
	}
	if code != CompileError && (r.Time <= 0 || r.Memory <= 0) {
		t.Errorf("time and memory must be measured for %s: %s", r.Status, r)
	}
}

const (
	Accepted            = 0
	WrongAnswer         = 1
	CompileError        = 2
	RuntimeError        = 3
	TimeLimitExceeded   = 4
	MemoryLimitExceeded = 5
	InternalError       = 6
	OutputLimitExceeded = 7
)

var statusName = map[int]string{
	Accepted:            "Accepted",
	WrongAnswer:         "WrongAnswer",
	CompileError:        "CompileError",
	RuntimeError:        "RuntimeError",
	TimeLimitExceeded:   "TimeLimitExceeded",
	MemoryLimitExceeded: "MemoryLimitExceeded",
	InternalError:       "InternalError",
	OutputLimitExceeded: "OutputLimitExceeded",
}

// testDataDir is the persistent data dir shared by test and bench servers.
func testDataDir() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = "/var/cache"
	}
	return filepath.Join(cache, "pecan", "test-data")
}
