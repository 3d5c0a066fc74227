// Package e2e is Pecan's end-to-end suite: it builds the real binary,
// starts one real server with the real backend (container, or the one
// PECAN_TEST_BACKEND names: make test runs the judging tests on each) and
// judges real programs in all shipped languages through the HTTP API.
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
	skipReason = testserver.SkipReason("e2e")
	suite      testserver.Env // repository, scratch dir and binary of this run
	baseURL    string
	server     *testserver.Server            // the shared server, for its processes, cgroups and descriptors
	apiCheck   = testserver.NewAPICheck(nil) // every answer must match the OpenAPI document
	client     = &http.Client{Timeout: requestTimeout, Transport: apiCheck}
	inFlight   = make(chan struct{}, maxInFlight)
)

// TestMain runs the suite on one shared server. Its shutdown must be clean
// and prompt even though the client's idle keep-alive connections stay
// open, as a real client's would.
func TestMain(m *testing.M) {
	os.Exit(testserver.RunMain(m, testserver.Suite{
		Name:     "e2e",
		Prompt:   promptShutdown,
		APICheck: apiCheck,
		LogLines: 100,
		Start: func(e testserver.Env) (*testserver.Server, error) {
			suite = e
			config := filepath.Join(e.Repo, "pecan.toml")
			srv, err := testserver.StartHealthy(e.Options(e.Bin, config, 2, "server"), startupTimeout)
			if err != nil {
				return nil, err
			}
			baseURL, problemStore, server = srv.URL(), srv.ProblemStore(), srv
			return srv, nil
		},
	}))
}

// start marks a test parallel and skips it when the server could not run.
func start(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	t.Parallel()
}

func clip(s string) string { return testserver.Clip(s, 400) }

// judge posts j and returns the decoded verdict; anything but 200 fails t.
func judge(t *testing.T, j testserver.Job) *testserver.Result {
	t.Helper()
	inFlight <- struct{}{}
	r, err := testserver.Judge(client, baseURL, j)
	<-inFlight
	if err != nil {
		t.Fatalf("judge %s: %v", j.Language, err)
	}
	return r
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
	return postURL(baseURL+path, contentType, body)
}

// postURL posts body to any server's url and returns the status and body.
func postURL(url, contentType string, body []byte) (int, []byte, error) {
	resp, err := client.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: read body: %v", url, err)
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
func expect(t *testing.T, r *testserver.Result, code int) {
	t.Helper()
	if r.Code != code || r.Status != testserver.VerdictName(code) {
		t.Fatalf("want %d %s, got %s", code, testserver.VerdictName(code), r)
	}
	if code == testserver.CompileError {
		return
	}
	if r.Memory <= 0 {
		t.Errorf("memory must be measured for %s: %s", r.Status, r)
	}
	if r.Time <= 0 {
		if reason, ok := exceptions.For("time_measured"); ok {
			t.Logf("named exception %s/time_measured (%s): time = 0: %s", testserver.Backend(), reason, r)
		} else {
			t.Errorf("time must be measured for %s: %s", r.Status, r)
		}
	}
}
