package testserver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// SkipReason is why the suite called name cannot run here, or "" when it
// can: its servers use the container backend, which creates namespaces and
// cgroups and so needs root. As another user every test of the suite is
// skipped with this reason; CI runs as root.
func SkipReason(name string) string {
	if os.Geteuid() == 0 {
		return ""
	}
	return name + " tests need root: the container backend creates namespaces and cgroups (CI runs as root)"
}

// Env is what RunMain prepared for a suite's shared server.
type Env struct {
	Repo string // the repository root
	Tmp  string // per-run scratch (binary, configs, logs), removed afterwards
	Bin  string // the server binary built from the repository
}

// Options are those of a server of the suite: binary bin (Bin, or a copy
// whose processes are told apart from the shared server's), config and
// pool size; it runs in the repository and logs to <Tmp>/<name>.log.
func (e Env) Options(bin, config string, pool int, name string) Options {
	return Options{
		Bin:     bin,
		Config:  config,
		Pool:    pool,
		Dir:     e.Repo,
		LogPath: filepath.Join(e.Tmp, name+".log"),
	}
}

// Suite is what RunMain needs to know of one end-to-end suite.
type Suite struct {
	// Name prefixes the suite's messages and names its scratch directory.
	Name string
	// Start starts the suite's shared server and returns it once it is
	// ready for the tests (at least healthy: see StartHealthy).
	Start func(Env) (*Server, error)
	// Prompt is how soon after SIGTERM the shared server must exit, with
	// status 0: nothing is in flight any more once the tests are done.
	Prompt time.Duration
	// LogLines is how much of the server's log to print when the suite
	// fails.
	LogLines int
	// After, if set, checks more once the shared server has stopped; an
	// error fails the suite.
	After func() error
	// APICheck, if set, is the transport of the suite's clients: every
	// native API response they received must match the OpenAPI document,
	// or the suite fails.
	APICheck *APICheck
}

// RunMain is the body of a suite's TestMain; it returns the exit code.
// Without root it only runs the tests, which skip themselves (SkipReason).
// As root it builds the server, starts the shared one, runs the tests, and
// then wants a clean and prompt shutdown with nothing left behind: an
// end-to-end suite is also a check of the server's own cleanup.
//
// m is a *testing.M; the interface keeps "testing" out of this package,
// which bench builds into a binary.
func RunMain(m interface{ Run() int }, s Suite) int {
	if reason := SkipReason(s.Name); reason != "" {
		fmt.Println(s.Name+":", reason)
		return m.Run()
	}
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, s.Name+": "+format+"\n", args...)
	}
	repo, err := RepoRoot()
	if err != nil {
		fail("%v", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "pecan-"+s.Name+"-")
	if err != nil {
		fail("scratch dir: %v", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	bin, err := Build(tmp)
	if err != nil {
		fail("%v", err)
		return 1
	}
	rootsBefore := TmpRoots()
	srv, err := s.Start(Env{Repo: repo, Tmp: tmp, Bin: bin})
	if err != nil {
		fail("shared server: %v", err)
		return 1
	}

	code := m.Run()

	// The shared server survived every test: it must still stop cleanly.
	if err := srv.Stop(s.Prompt); err != nil {
		fail("shared server: %v", err)
		code = 1
	}
	for _, l := range srv.Leftovers(rootsBefore) {
		fail("shared server left behind: %s", l)
		code = 1
	}
	if s.After != nil {
		if err := s.After(); err != nil {
			fail("%v", err)
			code = 1
		}
	}
	// A run of no test (-run matching none) checks nothing, and is no
	// mismatch.
	if s.APICheck != nil && s.APICheck.Checked() > 0 {
		if err := s.APICheck.Err(); err != nil {
			fail("%v", err)
			code = 1
		} else {
			fmt.Printf("%s: %d native API responses match the OpenAPI document\n", s.Name, s.APICheck.Checked())
		}
	}
	if code != 0 {
		fmt.Fprint(os.Stderr, srv.LogTail(s.LogLines))
	}
	return code
}

// StartHealthy is Start followed by WaitHealthy for at most timeout. A
// server that does not become healthy is killed, so that it cannot outlive
// the suite, and the tail of its log is printed, since the error alone
// rarely says why.
func StartHealthy(o Options, timeout time.Duration) (*Server, error) {
	s, err := Start(o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.WaitHealthy(ctx); err != nil {
		s.Kill()
		fmt.Fprint(os.Stderr, s.LogTail(100))
		return nil, fmt.Errorf("not healthy: %w", err)
	}
	return s, nil
}
