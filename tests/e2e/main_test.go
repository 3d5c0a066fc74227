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
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

const (
	startupTimeout = 10 * time.Minute // first start compiles Go's std
	promptShutdown = 30 * time.Second // to exit after SIGTERM (killed past testserver.KillAfter)
	requestTimeout = 5 * time.Minute
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
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
	}
	root, err := testserver.RepoRoot()
	if err != nil {
		fail("%v", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "pecan-e2e-")
	if err != nil {
		fail("%v", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	bin, err := testserver.Build(tmp)
	if err != nil {
		fail("%v", err)
		return 1
	}
	tmpRootsBefore := testserver.TmpRoots()
	srv, err := testserver.Start(testserver.Options{
		Bin:     bin,
		Config:  filepath.Join(root, "pecan.toml"),
		Pool:    2,
		Dir:     root,
		LogPath: filepath.Join(tmp, "server.log"),
	})
	if err != nil {
		fail("%v", err)
		return 1
	}
	baseURL = srv.URL()
	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
	err = srv.WaitHealthy(ctx)
	cancel()
	if err != nil {
		fail("server did not become healthy: %v", err)
		srv.Kill()
		fmt.Fprint(os.Stderr, srv.LogTail(100))
		return 1
	}

	code := m.Run()

	// Shutdown must be clean and prompt: nothing is in flight any more, so
	// exit status 0 well within the server's grace period. The client's
	// idle keep-alive connections stay open, as a real client's would.
	if err := srv.Stop(promptShutdown); err != nil {
		fail("server: %v", err)
		code = 1
	}

	// Nothing may be left behind.
	for _, l := range srv.Leftovers(tmpRootsBefore) {
		fail("left behind: %s", l)
		code = 1
	}
	if code != 0 {
		fmt.Fprint(os.Stderr, srv.LogTail(100))
	}
	return code
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
