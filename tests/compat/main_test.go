// Package compat is the end-to-end suite of the compatible APIs: real
// Judge0 and Piston clients' requests against a real server on the
// container backend. The Piston side runs the real npm piston-client
// 1.0.2 (installed by the test at that version) under node; the Judge0
// side sends exactly what Judge0's Python SDK and IDE send (the SDK is not
// installable here), including a callback to a receiver on loopback.
//
// It needs root (the container backend creates namespaces and cgroups); as
// another user every test is skipped. CI runs it as root.
package compat

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
	promptShutdown = 30 * time.Second
)

var (
	skipReason = testserver.SkipReason("compat")
	shared     *testserver.Server
	// judge0Root is the base URL of the shared server's Judge0 listener,
	// which serves the API at the root.
	judge0Root string
	client     = &http.Client{Timeout: 2 * time.Minute}
)

func TestMain(m *testing.M) {
	os.Exit(testserver.RunMain(m, testserver.Suite{
		Name:     "compat",
		Prompt:   promptShutdown,
		LogLines: 100,
		Start: func(e testserver.Env) (*testserver.Server, error) {
			addrs, err := testserver.ClusterAddrs(1)
			if err != nil {
				return nil, err
			}
			judge0Root = "http://" + addrs[0]
			cfg, err := writeConfig(e, "shared", map[string]map[string]string{
				// Callbacks go to a receiver on loopback; async jobs may
				// use the whole pool.
				"async":  {"allow_private_webhooks": "true", "pool_share": "1.0", "backoff_initial": "0.05", "backoff_max": "0.5"},
				"judge0": {"listen": fmt.Sprintf("%q", addrs[0])},
			})
			if err != nil {
				return nil, err
			}
			shared, err = testserver.StartHealthy(e.Options(e.Bin, cfg, 2, "shared"), startupTimeout)
			return shared, err
		},
	}))
}

// writeConfig writes the repository's pecan.toml with keys set in their
// tables, as <Tmp>/<name>.toml. Each key must appear exactly once in its
// table, so a renamed key fails here instead of being ignored.
func writeConfig(e testserver.Env, name string, tables map[string]map[string]string) (string, error) {
	b, err := os.ReadFile(filepath.Join(e.Repo, "pecan.toml"))
	if err != nil {
		return "", err
	}
	text := string(b)
	for table, keys := range tables {
		start := strings.Index(text, "\n["+table+"]\n")
		if start < 0 {
			return "", fmt.Errorf("pecan.toml has no [%s] table", table)
		}
		end := start + 1 + strings.Index(text[start+1:], "\n[")
		section := text[start:end]
		for key, value := range keys {
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + ` = .*$`)
			if n := len(re.FindAllStringIndex(section, -1)); n != 1 {
				return "", fmt.Errorf("pecan.toml [%s]: key %s found %d times, want once", table, key, n)
			}
			section = re.ReplaceAllLiteralString(section, key+" = "+value)
		}
		text = text[:start] + section + text[end:]
	}
	path := filepath.Join(e.Tmp, name+".toml")
	return path, os.WriteFile(path, []byte(text), 0o644)
}

// start skips t when the servers cannot run here.
func start(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}
