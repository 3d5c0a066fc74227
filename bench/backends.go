package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// backendResult is one backend's figures in the backend comparison.
type backendResult struct {
	backend     string
	latency     map[string]time.Duration // language -> median A+B latency
	runs        int
	jobs        int
	jobsPerSec  float64
	throughputN int    // clients
	load        string // the host's load when the comparison began
}

// benchBackends starts one server (pool of 2) per backend, all at once,
// and measures A+B latency in Python and C with requests alternating
// between the backends, so each sees the same machine; then Python
// throughput with 4 clients on each in turn.
func benchBackends(bin, cfgPath, dataDir string, names []string, runs, jobs int) ([]backendResult, error) {
	servers := make([]*testserver.Server, len(names))
	defer func() {
		for _, s := range servers {
			if s != nil {
				_ = s.Stop(testserver.KillAfter)
			}
		}
	}()
	for i, b := range names {
		s, err := testserver.Start(testserver.Options{
			Bin: bin, Config: cfgPath, DataDir: dataDir, Pool: 2,
			Args: []string{"--backend", b, "--log-level", "warn"},
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b, err)
		}
		servers[i] = s
	}
	for i, s := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		err := s.WaitHealthy(ctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", names[i], err)
		}
	}
	results := make([]backendResult, len(names))
	load := loadAverage()
	for i, b := range names {
		results[i] = backendResult{backend: b, latency: map[string]time.Duration{}, jobs: jobs, throughputN: 4, load: load, runs: runs}
	}
	for _, lang := range []string{"python", "c"} {
		samples := make([][]time.Duration, len(names))
		for round := -1; round < runs; round++ { // round -1 warms up
			for i, s := range servers {
				d, err := viaAPI(s.URL(), lang, programs[lang])
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", names[i], lang, err)
				}
				if round >= 0 {
					samples[i] = append(samples[i], d)
				}
			}
		}
		for i := range names {
			results[i].latency[lang] = median(samples[i])
		}
	}
	for i, s := range servers {
		jps, err := throughputOf(s.URL(), jobs, 4)
		if err != nil {
			return nil, fmt.Errorf("%s throughput: %w", names[i], err)
		}
		results[i].jobsPerSec = jps
	}
	return results, nil
}

// throughputOf sends jobs Python A+B with clients concurrent clients and
// returns the jobs per second.
func throughputOf(url string, jobs, clients int) (float64, error) {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(jobs) {
				if _, err := viaAPI(url, "python", programs["python"]); err != nil {
					errOnce.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	return float64(jobs) / time.Since(start).Seconds(), nil
}

// backendTable is the markdown of the backend comparison; the first
// backend is the baseline of the ratios.
func backendTable(rs []backendResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s (`go run ./bench --backends %s`); one server per backend, pool of 2, load %s.\n\n",
		machine(), joinBackends(rs), rs[0].load)
	fmt.Fprintf(&b, "| backend | Python A+B median of %d (ms) | C A+B median of %d (ms) | Python throughput, %d jobs from %d clients (jobs/s) |\n|---|---|---|---|\n",
		rs[0].runs, rs[0].runs, rs[0].jobs, rs[0].throughputN)
	base := rs[0]
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %.1f (%.2f×) | %.1f (%.2f×) | %.1f (%.2f×) |\n", r.backend,
			ms(r.latency["python"]), float64(r.latency["python"])/float64(base.latency["python"]),
			ms(r.latency["c"]), float64(r.latency["c"])/float64(base.latency["c"]),
			r.jobsPerSec, r.jobsPerSec/base.jobsPerSec)
	}
	return b.String()
}

func joinBackends(rs []backendResult) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.backend
	}
	return strings.Join(names, ",")
}

// loadAverage is the host's 1-minute load average: other work on the
// machine moves every figure.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return "average " + f[0] + " at the start"
	}
	return "unknown"
}
