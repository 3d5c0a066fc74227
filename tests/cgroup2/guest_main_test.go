//go:build cgroup2guest

package cgroup2

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// The guest suite runs inside the cgroup v2 guest only (built with the tag
// cgroup2guest by the host test); its server is the host-built binary
// (testserver.PrebuiltEnv) with the guest config and the data dir the
// host prepared.

const (
	// poolSize is small: under TCG every sandbox costs several times
	// what it costs natively.
	poolSize       = 2
	startupTimeout = 3 * time.Minute
	promptShutdown = time.Minute
	requestTimeout = 4 * time.Minute
)

var (
	guestEnv testserver.Env
	shared   *testserver.Server
	baseURL  string
	client   = &http.Client{Timeout: requestTimeout}
)

func TestMain(m *testing.M) {
	config, data := os.Getenv("PECAN_CGROUP2_CONFIG"), os.Getenv("PECAN_CGROUP2_DATA")
	if config == "" || data == "" || os.Getenv(testserver.PrebuiltEnv) == "" {
		fmt.Fprintf(os.Stderr, "cgroup2 guest suite: PECAN_CGROUP2_CONFIG, PECAN_CGROUP2_DATA and %s must be set: it runs inside the guest that TestCgroupV2Guest boots\n", testserver.PrebuiltEnv)
		os.Exit(2)
	}
	os.Exit(testserver.RunMain(m, testserver.Suite{
		Name:     "cgroup2",
		Prompt:   promptShutdown,
		LogLines: 150,
		Start: func(e testserver.Env) (*testserver.Server, error) {
			guestEnv = e
			o := e.Options(e.Bin, config, poolSize, "server")
			o.DataDir = data
			srv, err := testserver.StartHealthy(o, startupTimeout)
			if err != nil {
				return nil, err
			}
			shared, baseURL = srv, srv.URL()
			return srv, nil
		},
	}))
}

// judge posts j to the shared server and wants a 200.
func judge(t *testing.T, j testserver.Job) *testserver.Result {
	t.Helper()
	r, err := testserver.Judge(client, baseURL, j)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// expect wants verdict code, with time and memory measured for a program
// that ran.
func expect(t *testing.T, r *testserver.Result, code int) {
	t.Helper()
	if r.Code != code || r.Status != testserver.VerdictName(code) {
		t.Fatalf("want %d %s, got %s", code, testserver.VerdictName(code), r)
	}
	if code != testserver.CompileError && (r.Time <= 0 || r.Memory <= 0) {
		t.Errorf("time and memory must be measured for %s: %s", r.Status, r)
	}
}
