// Package cluster proves that Pecan nodes form one pool (issue: clustering
// through actor remoting). It starts three real servers as separate
// processes on loopback, one sandbox each, joined through the automanaged
// provider; sends a burst to one node and checks it ran on all three, well
// under the serial time; kills a member with SIGKILL mid-burst and checks
// every request is still Accepted and the member is dropped; and forms a
// second cluster through a real etcd (Debian's etcd-server) started by the
// test.
//
// It needs root (the container backend creates namespaces and cgroups); as
// another user every test is skipped. CI runs it as root.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
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
	skipReason = testserver.SkipReason("cluster")
	env        testserver.Env
	// nodes of the automanaged cluster; nodes[0] is the suite's shared
	// server, the others are stopped by stopNodes.
	nodes []*node
)

func TestMain(m *testing.M) {
	os.Exit(testserver.RunMain(m, testserver.Suite{
		Name:     "cluster",
		Prompt:   promptShutdown,
		APICheck: apiCheck,
		LogLines: 80,
		Start: func(e testserver.Env) (*testserver.Server, error) {
			env = e
			binds, err := testserver.ClusterAddrs(3)
			if err != nil {
				return nil, err
			}
			config, err := clusterConfig(e)
			if err != nil {
				return nil, err
			}
			for i, bind := range binds {
				n, err := newNode(fmt.Sprintf("node%d", i+1), bind, binds)
				if err != nil {
					return nil, err
				}
				n.config = config
				nodes = append(nodes, n)
			}
			// The first start prepares the language state the others
			// share; the others then start side by side.
			if err := nodes[0].start(); err != nil {
				return nil, err
			}
			errs := make(chan error, len(nodes)-1)
			for _, n := range nodes[1:] {
				go func() { errs <- n.start() }()
			}
			for range nodes[1:] {
				if err := <-errs; err != nil {
					stopNodes()
					nodes[0].srv.Kill()
					return nil, err
				}
			}
			return nodes[0].srv, nil
		},
		After: stopNodes,
	}))
}

// clusterConfig is the repository's pecan.toml with three tests of a
// submission at once: a node's pool has one sandbox, and a submission's
// tests are to run on every member.
func clusterConfig(e testserver.Env) (string, error) {
	conf, err := os.ReadFile(filepath.Join(e.Repo, "pecan.toml"))
	if err != nil {
		return "", err
	}
	c := strings.Replace(string(conf), "max_parallel_tests = 0", "max_parallel_tests = 3", 1)
	if c == string(conf) {
		return "", errors.New("pecan.toml has no max_parallel_tests = 0 to change")
	}
	path := filepath.Join(e.Tmp, "cluster.toml")
	return path, os.WriteFile(path, []byte(c), 0o644)
}

// node is one cluster member: a server with its own copy of the binary
// (Leftovers tells servers apart by executable) and remoting address.
type node struct {
	name, bin, bind string
	config          string // empty: the repository's pecan.toml
	args            []string
	srv             *testserver.Server
	rootsBefore     map[string]bool
}

func newNode(name, bind string, seeds []string, extra ...string) (*node, error) {
	bin, err := testserver.CopyBinary(env.Bin, filepath.Join(env.Tmp, name))
	if err != nil {
		return nil, err
	}
	args := append([]string{"--cluster-bind", bind}, extra...)
	if len(seeds) > 0 {
		args = append(args, "--cluster-seeds", strings.Join(seeds, ","))
	}
	return &node{name: name, bin: bin, bind: bind, args: args}, nil
}

// start starts the node's server and waits until it is healthy.
func (n *node) start() error {
	config := n.config
	if config == "" {
		config = filepath.Join(env.Repo, "pecan.toml")
	}
	o := env.Options(n.bin, config, 1, n.name)
	o.Args = n.args
	n.rootsBefore = testserver.TmpRoots()
	srv, err := testserver.StartHealthy(o, startupTimeout)
	if err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	n.srv = srv
	return nil
}

// stop stops the node with SIGTERM and reports what it left behind.
func (n *node) stop() error {
	if n.srv == nil {
		return nil
	}
	if exited, _ := n.srv.Exited(); exited {
		return nil // killed by a test, which checked it
	}
	if err := n.srv.Stop(promptShutdown); err != nil {
		return fmt.Errorf("%s: %w\n%s", n.name, err, n.srv.LogTail(60))
	}
	if left := n.srv.Leftovers(n.rootsBefore); len(left) > 0 {
		return fmt.Errorf("%s left behind: %s", n.name, strings.Join(left, "; "))
	}
	return nil
}

// stopNodes stops every member but the shared server (RunMain's).
func stopNodes() error {
	var errs []string
	for _, n := range nodes[1:] {
		if err := n.stop(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cluster nodes: %s", strings.Join(errs, "\n"))
	}
	return nil
}

// apiCheck checks every answer of the suite's client against the
// OpenAPI document.
var (
	apiCheck = testserver.NewAPICheck(nil)
	client   = &http.Client{Timeout: 60 * time.Second, Transport: apiCheck}
)

func getStatus(base string) (*testserver.Status, error) { return testserver.GetStatus(client, base) }

// members lists the nodes n's status shows with an available sandbox.
func members(s *testserver.Status) []string {
	var out []string
	if s.Cluster != nil {
		for _, m := range s.Cluster.Members {
			if m.Available > 0 {
				out = append(out, m.Node)
			}
		}
	}
	return out
}

// waitFor polls cond every 50 ms until it holds or timeout passes, and
// says how long it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s; last: %s", what, timeout, state)
		case <-tick.C:
		}
	}
}

// waitMembers waits until base's cluster view shows exactly want.
func waitMembers(t *testing.T, base string, want []string, timeout time.Duration) time.Duration {
	t.Helper()
	wantSet := strings.Join(sorted(want), ",")
	return waitFor(t, timeout, "cluster of "+wantSet, func() (bool, string) {
		s, err := getStatus(base)
		if err != nil {
			return false, err.Error()
		}
		got := strings.Join(sorted(members(s)), ",")
		return got == wantSet, got
	})
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func needServer(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}
