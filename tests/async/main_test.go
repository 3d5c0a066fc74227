// Package async is the end-to-end suite of asynchronous judging
// (POST /v1/judge/judge-single-async, GET /v1/judge/result/{id}, webhooks):
// it builds the real binary, starts real servers on the container backend
// and delivers real verdicts to a real webhook receiver on loopback. It
// checks that a burst is delivered in full and equal to synchronous
// verdicts, that accepted jobs survive SIGKILL of the server, and that a
// full queue and bad input are refused without losing or creating jobs.
//
// It needs root (the container backend creates namespaces and cgroups); as
// another user every test is skipped. CI runs it as root.
package async

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

const (
	startupTimeout = 10 * time.Minute // a first start compiles Go's std
	promptShutdown = 30 * time.Second // to exit after SIGTERM (killed past testserver.KillAfter)
	// secret signs every webhook of the suite's servers.
	secret = "e2e-async-secret"
)

var (
	skipReason = testserver.SkipReason("async")
	env        testserver.Env
	shared     *testserver.Server
	apiCheck   = testserver.NewAPICheck(nil) // every answer must match the OpenAPI document
	client     = &http.Client{Timeout: 2 * time.Minute, Transport: apiCheck}
)

func TestMain(m *testing.M) {
	os.Exit(testserver.RunMain(m, testserver.Suite{
		Name:     "async",
		Prompt:   promptShutdown,
		APICheck: apiCheck,
		LogLines: 100,
		Start: func(e testserver.Env) (*testserver.Server, error) {
			env = e
			cfg, err := writeConfig("shared", fastWebhooks())
			if err != nil {
				return nil, err
			}
			// The whole pool for async jobs: the burst test measures
			// throughput, and its synchronous comparisons queue behind.
			shared, err = testserver.StartHealthy(e.Options(e.Bin, cfg, 2, "shared"), startupTimeout)
			return shared, err
		},
	}))
}

// fastWebhooks is the [async] settings of a server whose webhooks go to a
// receiver on loopback and are retried quickly.
func fastWebhooks() map[string]string {
	return map[string]string{
		"pool_share":             "1.0",
		"webhook_secret":         fmt.Sprintf("%q", secret),
		"allow_private_webhooks": "true",
		"backoff_initial":        "0.05",
		"backoff_max":            "0.5",
		"retry_for":              "300.0",
	}
}

// writeConfig writes the repository's pecan.toml with the given [async]
// keys set, as <Tmp>/<name>.toml. Each key must appear exactly once in
// the [async] table, so a renamed key fails here instead of being ignored.
func writeConfig(name string, async map[string]string) (string, error) {
	b, err := os.ReadFile(filepath.Join(env.Repo, "pecan.toml"))
	if err != nil {
		return "", err
	}
	text := string(b)
	start := strings.Index(text, "\n[async]\n")
	if start < 0 {
		return "", fmt.Errorf("pecan.toml has no [async] table")
	}
	end := start + 1 + strings.Index(text[start+1:], "\n[")
	section := text[start:end]
	for key, value := range async {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + ` = .*$`)
		if n := len(re.FindAllStringIndex(section, -1)); n != 1 {
			return "", fmt.Errorf("pecan.toml [async]: key %s found %d times, want once", key, n)
		}
		section = re.ReplaceAllLiteralString(section, key+" = "+value)
	}
	path := filepath.Join(env.Tmp, name+".toml")
	return path, os.WriteFile(path, []byte(text[:start]+section+text[end:]), 0o644)
}

// start skips t when the servers cannot run here.
func start(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// ownBinary copies the server binary for one test, so that its processes
// are told apart from the shared server's when looking for leftovers.
func ownBinary(t *testing.T, name string) string {
	t.Helper()
	p, err := testserver.CopyBinary(env.Bin, filepath.Join(env.Tmp, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
