package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// clusterResult is what the cluster benchmark measured.
type clusterResult struct {
	runs int
	// Median latency of A+B run by a member: sent to it directly (local),
	// and sent to node A, which hands it over (remote).
	local, remote time.Duration
	throughput    []throughput
}

// throughput is one load on one node alone and on a three-node cluster.
type throughput struct {
	load        string
	jobs        int
	alone, trio float64 // jobs per second
}

const (
	pythonAB = "a, b = map(int, input().split())\nprint(a + b)\n"
	sleeper  = "import time\ntime.sleep(0.3)\na, b = map(int, input().split())\nprint(a + b)\n"
	blocker  = "import time\ntime.sleep(12)\n"
)

// benchCluster measures, with servers of one sandbox each: the latency of
// a job node A hands to a member against one it runs itself, and the
// throughput of one node against three when all load arrives at one.
func benchCluster(bin, cfgPath, dataDir string, runs int) (clusterResult, error) {
	res := clusterResult{runs: runs}
	alone, err := startNodes(bin, cfgPath, dataDir, 1, false)
	if err != nil {
		return res, err
	}
	var loads []throughput
	for _, l := range []struct {
		name, src  string
		jobs, conc int
	}{
		{"python A+B (CPU-bound, about 40 ms)", pythonAB, 60, 6},
		{"0.3 s sleep (waiting, no CPU)", sleeper, 30, 9},
	} {
		jps, err := load(l.jobs, l.conc, judgeLoad(alone[0].URL(), l.src))
		if err != nil {
			stopAll(alone)
			return res, err
		}
		loads = append(loads, throughput{load: l.name, jobs: l.jobs, alone: jps})
	}
	stopAll(alone)

	trio, err := startNodes(bin, cfgPath, dataDir, 3, true)
	if err != nil {
		return res, err
	}
	defer stopAll(trio)
	a := trio[0].URL()
	if err := waitCluster(a, 3); err != nil {
		return res, err
	}
	for i, l := range []struct {
		src        string
		jobs, conc int
	}{{pythonAB, 60, 6}, {sleeper, 30, 9}} {
		jps, err := load(l.jobs, l.conc, judgeLoad(a, l.src))
		if err != nil {
			return res, err
		}
		loads[i].trio = jps
	}
	res.throughput = loads

	// The same sandbox, with and without the hop: while A's only sandbox
	// is held by a long job, A hands each job to a member; the same job
	// sent straight to that member runs on it directly. The two alternate
	// so both see the same machine.
	held := make(chan error, 1)
	go func() { _, err := judge(a, blocker, 15); held <- err }()
	if err := waitRunning(a); err != nil {
		return res, err
	}
	var direct, handed []time.Duration
	for i := range runs + 1 {
		via, err := judgeOn(a, trio[1:])
		if err != nil {
			return res, err
		}
		d, err := judge(via.member, pythonAB, 2)
		if err != nil {
			return res, err
		}
		if i > 0 { // the first of each warms its path
			handed, direct = append(handed, via.took), append(direct, d)
		}
	}
	res.local, res.remote = median(direct), median(handed)
	if err := <-held; err != nil {
		return res, fmt.Errorf("blocking job: %w", err)
	}
	return res, nil
}

// handedOver is a job node A handed to a member.
type handedOver struct {
	took   time.Duration
	member string // the member's URL
}

// judgeOn sends A+B to url and finds which of members ran it.
func judgeOn(url string, members []*testserver.Server) (handedOver, error) {
	took, a, err := post(url, "python", pythonAB, 2)
	if err != nil {
		return handedOver{}, err
	}
	if a.Status != "Accepted" {
		return handedOver{}, fmt.Errorf("handed-over job judged %q (%s)", a.Status, a.Error)
	}
	for _, m := range members {
		st, err := getClusterStatus(m.URL())
		if err == nil && st.Node == a.Node {
			return handedOver{took: took, member: m.URL()}, nil
		}
	}
	return handedOver{}, fmt.Errorf("job ran on %q, not on a member", a.Node)
}

// startNodes starts n servers of one sandbox on copies of bin, clustered
// on loopback when cluster is set.
func startNodes(bin, cfgPath, dataDir string, n int, cluster bool) ([]*testserver.Server, error) {
	var binds []string
	if cluster {
		var err error
		if binds, err = testserver.ClusterAddrs(n); err != nil {
			return nil, err
		}
	}
	var out []*testserver.Server
	for i := range n {
		own, err := testserver.CopyBinary(bin, filepath.Join(filepath.Dir(bin), fmt.Sprintf("node%d-%t", i, cluster)))
		if err != nil {
			stopAll(out)
			return nil, err
		}
		args := []string{"--log-level", "warn"}
		if cluster {
			args = append(args, "--cluster-bind", binds[i], "--cluster-seeds", strings.Join(binds, ","))
		}
		s, err := testserver.StartHealthy(testserver.Options{
			Bin: own, Config: cfgPath, DataDir: dataDir, Pool: 1, Args: args,
		}, 10*time.Minute)
		if err != nil {
			stopAll(out)
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func stopAll(ss []*testserver.Server) {
	for _, s := range ss {
		if err := s.Stop(testserver.KillAfter); err != nil {
			fmt.Fprintln(os.Stderr, "bench: server:", err)
		}
	}
}

// judge judges one python job and returns its latency. The blocker has
// no output, so it is a WrongAnswer.
func judge(url, src string, timeLimit float64) (time.Duration, error) {
	d, a, err := post(url, "python", src, timeLimit)
	if err == nil && a.Status != "Accepted" && !(src == blocker && a.Status == "WrongAnswer") {
		err = fmt.Errorf("judged %q (%s)", a.Status, a.Error)
	}
	return d, err
}

// load runs job jobs times, conc at a time, and returns jobs/s. It is
// the bench's one load driver: the cluster's loads and the throughput
// comparison with go-judge and bare runs all go through it.
func load(jobs, conc int, job func() error) (float64, error) {
	next := make(chan struct{}, jobs)
	for range jobs {
		next <- struct{}{}
	}
	close(next)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if err := job(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return 0, fmt.Errorf("%d of %d jobs failed, first: %w", len(errs), jobs, errs[0])
	}
	return float64(jobs) / time.Since(start).Seconds(), nil
}

// judgeLoad is a load of python src sent to url.
func judgeLoad(url, src string) func() error {
	return func() error { _, err := judge(url, src, 5); return err }
}

func getClusterStatus(url string) (*testserver.Status, error) {
	return testserver.GetStatus(http.DefaultClient, url)
}

// poll calls cond every 20 ms for up to a minute.
func poll(what string, cond func(*testserver.Status) bool, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		if s, err := getClusterStatus(url); err == nil && cond(s) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func waitCluster(url string, n int) error {
	return poll("cluster forming", func(s *testserver.Status) bool {
		if s.Cluster == nil {
			return false
		}
		idle := 0
		for _, m := range s.Cluster.Members {
			if m.Idle > 0 {
				idle++
			}
		}
		return idle == n
	}, url)
}

func waitRunning(url string) error {
	return poll("blocking job running", func(s *testserver.Status) bool { return s.Running > 0 }, url)
}
