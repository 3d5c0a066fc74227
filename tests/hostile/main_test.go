// Package hostile is Pecan's containment suite: a corpus of hostile
// programs (bombs, floods, escapes, persistence, denied syscalls), hostile
// compiles and hostile requests, judged by a real `pecan serve` on the
// container backend. After every case a probe job in the same sandbox (the
// server has a pool of ONE) must see nothing the case left behind, and the
// host must be unchanged: no stray process, no run cgroup, no new file.
//
// It needs root (the container backend creates namespaces and cgroups); as
// another user every test is skipped. CI runs it as root.
//
// Like tests/e2e, servers keep their state in the user's cache directory
// (testserver.DataDir), never under /tmp.
package hostile

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/internal/proctable"
	"github.com/pecan-judge/pecan/tests/testserver"
)

const (
	startupTimeout = 10 * time.Minute // a first start compiles Go's std
	promptShutdown = 30 * time.Second // to exit after SIGTERM
	requestTimeout = 5 * time.Minute
	settleTimeout  = 15 * time.Second // for the server to be back to idle after a job
)

var (
	skipReason = testserver.SkipReason("hostile")
	env        testserver.Env // repository, scratch dir and binary of this run
	shared     *testserver.Server
	client     = &http.Client{Timeout: requestTimeout}
)

func TestMain(m *testing.M) {
	var before *hostState // the host before the suite, which must not change
	os.Exit(testserver.RunMain(m, testserver.Suite{
		Name:     "hostile",
		Prompt:   promptShutdown,
		LogLines: 150,
		Start: func(e testserver.Env) (*testserver.Server, error) {
			env = e
			var err error
			if before, err = snapshotHost(); err != nil {
				return nil, fmt.Errorf("snapshot host: %w", err)
			}
			shared, err = startServer(env.Bin, filepath.Join(env.Repo, "pecan.toml"), 1, "shared")
			return shared, err
		},
		After: func() error {
			after, err := snapshotHost()
			if err != nil {
				return fmt.Errorf("snapshot host: %w", err)
			}
			if diff := before.diff(after); diff != "" {
				return fmt.Errorf("the host changed during the suite:\n%s", diff)
			}
			return nil
		},
	}))
}

// startServer starts bin on config with the given pool and waits
// until it is healthy and its pool is fully idle.
func startServer(bin, config string, pool int, name string) (*testserver.Server, error) {
	s, err := testserver.StartHealthy(env.Options(bin, config, pool, name), startupTimeout)
	if err != nil {
		return nil, err
	}
	if err := waitIdle(s, pool, startupTimeout); err != nil {
		s.Kill()
		fmt.Fprint(os.Stderr, s.LogTail(100))
		return nil, err
	}
	return s, nil
}

// requireServer skips t when no server could run.
func requireServer(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// ---- host state ----

// hostState is what a sandboxed program must not be able to change on the
// host: the entries of the shared temporary directories that belong to the
// uid sandboxes run as (other programs on the host may come and go there
// as they like; only a sandbox can make files of that uid), and the
// repository's working tree status.
type hostState struct {
	sandboxOwned map[string][]string // dir -> sorted names of entries owned by the sandbox uid
	git          string              // git status --porcelain
}

// hostDirs are the host's world-writable temporary directories.
func hostDirs() []string { return []string{os.TempDir(), "/var/tmp", "/dev/shm"} }

// sandboxUID is the host uid of the suite's sandboxes (pecan.toml's).
func sandboxUID() (uint32, error) {
	cfg, err := config.Load(filepath.Join(env.Repo, "pecan.toml"))
	if err != nil {
		return 0, err
	}
	return uint32(cfg.Container.UID), nil
}

func snapshotHost() (*hostState, error) {
	uid, err := sandboxUID()
	if err != nil {
		return nil, err
	}
	h := &hostState{sandboxOwned: map[string][]string{}}
	for _, d := range hostDirs() {
		entries, err := os.ReadDir(d)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		var names []string
		for _, e := range entries {
			var st syscall.Stat_t
			if syscall.Lstat(filepath.Join(d, e.Name()), &st) == nil && st.Uid == uid {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		h.sandboxOwned[d] = names
	}
	cmd := exec.Command("git", "status", "--porcelain")
	cmd.Dir = env.Repo
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git status: %w", err)
	}
	h.git = string(out)
	return h, nil
}

func (h *hostState) diff(after *hostState) string {
	var b strings.Builder
	for _, d := range hostDirs() {
		for _, n := range after.sandboxOwned[d] {
			if !slices.Contains(h.sandboxOwned[d], n) {
				fmt.Fprintf(&b, "  new in %s, owned by the sandbox uid: %s\n", d, n)
			}
		}
	}
	if h.git != after.git {
		fmt.Fprintf(&b, "  git status --porcelain changed:\n--- before\n%s--- after\n%s", h.git, after.git)
	}
	return b.String()
}

// ---- processes ----

// strays lists processes below the server other than its sandbox inits,
// and a note when the number of inits is not that of a settled pool.
func strays(s *testserver.Server, pool int) []string {
	inits := s.SandboxInits()
	var out []string
	if want := pool * testserver.SettledInits(testserver.Backend()); len(inits) != want {
		out = append(out, fmt.Sprintf("%d sandbox inits, want %d", len(inits), want))
	}
	for _, p := range proctable.Descendants(proctable.List(), s.PID()) {
		if !slices.Contains(inits, p.PID) {
			out = append(out, fmt.Sprintf("stray process %d %q", p.PID, p.Cmdline))
		}
	}
	return out
}

// ---- HTTP ----

// judge posts j to the server at base; any answer but 200 is an error.
func judge(base string, j testserver.Job) (*testserver.Result, error) {
	return testserver.Judge(client, base, j)
}

func status(s *testserver.Server) (*testserver.Status, error) {
	return testserver.GetStatus(client, s.URL())
}

func healthy(s *testserver.Server) error {
	if exited, err := s.Exited(); exited {
		return fmt.Errorf("server exited: %v", err)
	}
	resp, err := client.Get(s.URL() + "/v1/health")
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: HTTP %d", resp.StatusCode)
	}
	return nil
}

// waitIdle polls until every sandbox of the pool is idle (its last job
// reset), or fails after timeout.
func waitIdle(s *testserver.Server, pool int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		st, err := status(s)
		if err == nil && st.Idle == pool && st.Running == 0 {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%+v", *st)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pool not idle after %s: %s", timeout, last)
		}
		<-tick.C
	}
}

// waitClean polls until nothing is left below the server but its sandbox
// inits and no run cgroup exists, or reports what is left after timeout.
func waitClean(s *testserver.Server, pool int, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		left := append(strays(s, pool), s.RunCgroups()...)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		<-tick.C
	}
}
