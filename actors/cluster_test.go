package actors

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/fake"
	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/judge"
	"github.com/pecan-judge/pecan/messages"
	"github.com/pecan-judge/pecan/tests/testserver"
)

// clusterPorts returns n loopback remoting addresses whose port and the
// next (the membership endpoint) are free.
func clusterPorts(t *testing.T, n int) []string {
	t.Helper()
	addrs, err := testserver.ClusterAddrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// member is one clustered pool of a test.
type member struct {
	pool    *Pool
	cluster *Cluster
	backend *fake.Backend
}

// startMember joins the cluster of seeds at bind with a one-sandbox pool
// whose runs take hold (or block while block is open).
func startMember(t *testing.T, bind string, seeds []string, run fake.RunFunc) *member {
	t.Helper()
	return startMemberTLS(t, bind, seeds, run, config.TLS{})
}

// startMemberTLS is startMember with remoting secured by tls.
func startMemberTLS(t *testing.T, bind string, seeds []string, run fake.RunFunc, tls config.TLS) *member {
	t.Helper()
	return startMemberWith(t, bind, seeds, run, tls, nil)
}

// startMemberWith is startMemberTLS with more options set by more.
func startMemberWith(t *testing.T, bind string, seeds []string, run fake.RunFunc, tls config.TLS, more func(*Options)) *member {
	t.Helper()
	system := NewActorSystem(testLogger())
	cfg := config.Default().Cluster
	cfg.Bind, cfg.Seeds, cfg.TLS = bind, seeds, tls
	cl, err := JoinCluster(system, cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	b := fake.New(run)
	opts := Options{
		PoolSize: 1, QueueLength: 16, Backend: b, Languages: testLanguages(t),
		Limits: config.Default().Limits, Node: bind, Logger: testLogger(), Cluster: cl,
	}
	if more != nil {
		more(&opts)
	}
	p, err := Start(system, opts)
	if err != nil {
		cl.Leave()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Errorf("stop %s: %v", bind, err)
		}
		cl.Leave()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return &member{pool: p, cluster: cl, backend: b}
}

// waitMembers waits until m's status shows n members with idle sandboxes.
func waitMembers(t *testing.T, m *member, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := status(t, m.pool)
		idle := 0
		for _, s := range st.Members {
			if s.Idle > 0 {
				idle++
			}
		}
		if idle >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster did not form: %v", st.Members)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// slowProgram is program with every run taking d.
func slowProgram(d time.Duration) fake.RunFunc {
	return func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
		return program(ctx, sb, spec, files)
	}
}

func executeAll(t *testing.T, p *Pool, n int) []*messages.ExecuteResponse {
	t.Helper()
	out := make([]*messages.ExecuteResponse, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req := request("py", fmt.Sprintf("print %d", i), fmt.Sprint(i))
			req.RequestId = fmt.Sprintf("job-%d", i)
			resp, err := p.Execute(ctx, req)
			if err != nil {
				t.Errorf("job %d: %v", i, err)
				return
			}
			out[i] = resp
		}()
	}
	wg.Wait()
	return out
}

func TestClusterSharesWork(t *testing.T) {
	addrs := clusterPorts(t, 2)
	a := startMember(t, addrs[0], addrs, slowProgram(200*time.Millisecond))
	b := startMember(t, addrs[1], addrs, slowProgram(200*time.Millisecond))
	waitMembers(t, a, 2)

	nodes := map[string]int{}
	for i, resp := range executeAll(t, a.pool, 4) {
		if resp == nil {
			continue
		}
		if resp.Code != int32(judge.Accepted) || string(resp.Stdout) != fmt.Sprintf("%d\n", i) {
			t.Errorf("job %d: %+v", i, resp)
		}
		nodes[resp.Node]++
	}
	if nodes[addrs[0]] == 0 || nodes[addrs[1]] == 0 {
		t.Errorf("jobs ran on %v; want both members", nodes)
	}
	if b.backend.Counts().Run == 0 {
		t.Error("the second member's backend never ran anything")
	}
	if st := status(t, a.pool); st.Address != addrs[0] || len(st.Members) != 2 {
		t.Errorf("cluster status %+v", st)
	}
}

func TestClusterMemberLostRetriesElsewhere(t *testing.T) {
	addrs := clusterPorts(t, 2)
	a := startMember(t, addrs[0], addrs, slowProgram(300*time.Millisecond))
	// The second member never finishes a job: it is lost with it.
	release := make(chan struct{})
	b := startMember(t, addrs[1], addrs, func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return program(ctx, sb, spec, files)
	})
	t.Cleanup(func() { close(release) }) // runs before the members stop
	waitMembers(t, a, 2)

	done := make(chan []*messages.ExecuteResponse, 1)
	go func() { done <- executeAll(t, a.pool, 2) }()
	deadline := time.Now().Add(5 * time.Second)
	for b.backend.Counts().Run == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no job reached the second member")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Its remoting goes away as in a crash: no goodbye to the others.
	b.cluster.cluster.Remote.Shutdown(false)

	for i, resp := range <-done {
		if resp == nil {
			continue
		}
		if resp.Failure != messages.Failure_FAILURE_NONE || resp.Code != int32(judge.Accepted) || resp.Node != addrs[0] {
			t.Errorf("job %d: %+v", i, resp)
		}
	}
}

func TestClusterRefusesOtherProtocols(t *testing.T) {
	logger, hook := logtest.NewNullLogger()
	c := &Cluster{address: "127.0.0.1:1", logger: logger, refused: map[string]bool{}}
	members := []*cluster.Member{
		{Id: "self", Host: "127.0.0.1", Port: 1, Kinds: []string{protocolKind}},
		{Id: "same", Host: "127.0.0.1", Port: 3, Kinds: []string{"prototopic", protocolKind}},
		{Id: "newer", Host: "127.0.0.1", Port: 2, Kinds: []string{"pecan-protocol/pecan.v2"}},
	}
	for range 2 {
		got := c.compatible(members)
		if len(got) != 1 || got[0] != "127.0.0.1:3" {
			t.Fatalf("compatible = %v", got)
		}
	}
	var refusals int
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.ErrorLevel && strings.Contains(e.Message, "another Pecan message protocol") && e.Data["member"] == "127.0.0.1:2" {
			refusals++
		}
	}
	if refusals != 1 {
		t.Errorf("refusal logged %d times, want once: %v", refusals, hook.AllEntries())
	}

	// Attaching a router while an incompatible member is in the topology
	// (a rolling upgrade) must neither block nor pass that member on.
	c.system = NewActorSystem(testLogger())
	defer c.system.Shutdown()
	c.latest = members
	got := make(chan []string, 4)
	router := c.system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*membersChanged); ok {
			got <- m.addresses
		}
	}))
	attached := make(chan struct{})
	go func() { c.attach(router); close(attached) }()
	select {
	case <-attached:
	case <-time.After(5 * time.Second):
		t.Fatal("attach blocked")
	}
	defer close(c.stop)
	select {
	case a := <-got:
		if len(a) != 1 || a[0] != "127.0.0.1:3" {
			t.Errorf("router told of members %v", a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("router not told of the members")
	}
}

func TestWithinLimits(t *testing.T) {
	l := config.Default().Limits
	ok := func() *messages.ExecuteRequest {
		return &messages.ExecuteRequest{Code: []byte("x"), Limits: &messages.Limits{CpuSeconds: 1, WallSeconds: 3, MemoryKib: 65536}}
	}
	if err := withinLimits(ok(), l); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	files := ok()
	files.Files = []*messages.SourceFile{{Name: "main.c", Content: []byte("x")}, {Name: "lib/a.h"}}
	if err := withinLimits(files, l); err != nil {
		t.Fatalf("valid files refused: %v", err)
	}
	for name, edit := range map[string]func(*messages.ExecuteRequest){
		"no limits":       func(r *messages.ExecuteRequest) { r.Limits = nil },
		"negative memory": func(r *messages.ExecuteRequest) { r.Limits.MemoryKib = -1 },
		"huge memory":     func(r *messages.ExecuteRequest) { r.Limits.MemoryKib = l.MaxMemoryKiB + 1 },
		"NaN cpu":         func(r *messages.ExecuteRequest) { r.Limits.CpuSeconds = math.NaN() },
		"zero wall":       func(r *messages.ExecuteRequest) { r.Limits.WallSeconds = 0 },
		"long wall":       func(r *messages.ExecuteRequest) { r.Limits.WallSeconds = l.MaxWallTime * 2 },
		"big code":        func(r *messages.ExecuteRequest) { r.Code = make([]byte, l.MaxCodeKiB*1024+1) },
		"big stdin":       func(r *messages.ExecuteRequest) { r.Stdin = make([]byte, l.MaxStdinKiB*1024+1) },
		"many files": func(r *messages.ExecuteRequest) {
			for i := 0; i <= l.MaxFiles; i++ {
				r.Files = append(r.Files, &messages.SourceFile{Name: fmt.Sprintf("f%d.c", i)})
			}
		},
		"big files": func(r *messages.ExecuteRequest) {
			r.Files = []*messages.SourceFile{{Name: "a.c", Content: make([]byte, l.MaxCodeKiB*1024)}, {Name: "b.c", Content: []byte("x")}}
		},
		"file outside": func(r *messages.ExecuteRequest) { r.Files = []*messages.SourceFile{{Name: "../a.c"}} },
	} {
		r := ok()
		edit(r)
		if err := withinLimits(r, l); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A member whose sandbox dies under a handed-over job gives it back; the
// node that received it retries it (here on itself), counting attempts.
func TestClusterMemberSandboxFailureRetriedByOrigin(t *testing.T) {
	addrs := clusterPorts(t, 2)
	a := startMember(t, addrs[0], addrs, slowProgram(200*time.Millisecond))
	b := startMember(t, addrs[1], addrs, func(context.Context, *fake.Sandbox, backends.RunSpec, map[string][]byte) (backends.RunResult, error) {
		return backends.RunResult{}, fmt.Errorf("init died: %w", backends.ErrBroken)
	})
	waitMembers(t, a, 2)
	for i, resp := range executeAll(t, a.pool, 2) {
		if resp == nil {
			continue
		}
		if resp.Failure != messages.Failure_FAILURE_NONE || resp.Code != int32(judge.Accepted) || resp.Node != addrs[0] {
			t.Errorf("job %d: %+v", i, resp)
		}
	}
	if n := b.backend.Counts().Run; n != 1 {
		t.Errorf("the failing member ran %d jobs, want exactly the one handed over (no retry there)", n)
	}
}
