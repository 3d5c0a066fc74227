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
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

const (
	startupTimeout = 10 * time.Minute // a first start compiles Go's std
	promptShutdown = 30 * time.Second // to exit after SIGTERM (killed past testserver.KillAfter)
	poolSize       = 4                // of the shared fault-injection server
)

var (
	// apiCheck is the transport of the suite's clients: every answer must
	// match the OpenAPI document. It keeps one connection per concurrent
	// client, as a real client pool would.
	apiCheck   = testserver.NewAPICheck(&http.Transport{MaxIdleConnsPerHost: concurrency})
	skipReason = testserver.SkipReason("chaos")
	env        testserver.Env // repository, scratch dir and binary of this run
	shared     *server
)

func TestMain(m *testing.M) {
	os.Exit(testserver.RunMain(m, testserver.Suite{
		Name:     "chaos",
		Prompt:   promptShutdown,
		APICheck: apiCheck,
		LogLines: 100,
		Start: func(e testserver.Env) (*testserver.Server, error) {
			env = e
			cfg, err := faultConfig()
			if err != nil {
				return nil, fmt.Errorf("fault config: %w", err)
			}
			if shared, err = startServer(env.Bin, cfg, poolSize, "shared"); err != nil {
				return nil, err
			}
			return shared.Server, nil
		},
	}))
}

// faultConfig writes the repository's pecan.toml with [faults] enabled.
func faultConfig() (string, error) {
	b, err := os.ReadFile(filepath.Join(env.Repo, "pecan.toml"))
	if err != nil {
		return "", err
	}
	const off, on = "\nenabled = false\n", "\nenabled = true\n"
	if bytes.Count(b, []byte(off)) != 1 {
		return "", errors.New("pecan.toml: expected exactly one line `enabled = false` (under [faults])")
	}
	path := filepath.Join(env.Tmp, "pecan-faults.toml")
	return path, os.WriteFile(path, bytes.Replace(b, []byte(off), []byte(on), 1), 0o644)
}

// server is a running `pecan serve` with the chaos suite's own probes
// (status, faults) as methods.
type server struct{ *testserver.Server }

// startServer starts bin with config and pool size and waits for
// /v1/health; name tells its log file apart.
func startServer(bin, config string, pool int, name string) (*server, error) {
	s, err := testserver.StartHealthy(env.Options(bin, config, pool, name), startupTimeout)
	if err != nil {
		return nil, err
	}
	return &server{s}, nil
}

// checkAlive fails t when the server has exited.
func (s *server) checkAlive(t *testing.T) {
	t.Helper()
	if exited, err := s.Exited(); exited {
		t.Fatalf("server pid %d is gone: %v (log %s)", s.PID(), err, s.LogPath())
	}
}

func (s *server) printLogTail() { fmt.Fprint(os.Stderr, s.LogTail(100)) }

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
