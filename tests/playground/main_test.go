// Package playground drives the playground page (GET /) in headless
// Chromium against a real server with API tokens on: a program typed into
// the editor, run and judged, a problem package uploaded and judged test
// by test. The browser is Debian's chromium, driven by puppeteer-core
// (both installed by make test-deps).
package playground

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

const (
	startupTimeout = 10 * time.Minute // a first start compiles Go's std
	promptShutdown = 30 * time.Second
	// token is the API token of the suite's server; the page is given it.
	token = "playground-test-token-0123456789"
)

var (
	skipReason = testserver.SkipReason("playground")
	env        testserver.Env
	baseURL    string
	apiCheck   = testserver.NewAPICheck(nil) // every answer must match the OpenAPI document
	client     = &http.Client{Timeout: time.Minute, Transport: apiCheck}
)

func TestMain(m *testing.M) {
	os.Exit(testserver.RunMain(m, testserver.Suite{
		Name:     "playground",
		Prompt:   promptShutdown,
		APICheck: apiCheck,
		LogLines: 80,
		Start: func(e testserver.Env) (*testserver.Server, error) {
			env = e
			o := e.Options(e.Bin, filepath.Join(e.Repo, "pecan.toml"), 1, "server")
			o.Env = []string{"PECAN_AUTH_TOKENS=" + token}
			srv, err := testserver.StartHealthy(o, startupTimeout)
			if err != nil {
				return nil, err
			}
			baseURL = srv.URL()
			return srv, nil
		},
	}))
}
