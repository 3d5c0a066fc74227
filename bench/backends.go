package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// backendResult is one backend's figures.
type backendResult struct {
	backend          string
	python, c        time.Duration // median A+B latency
	pythonThroughput float64       // jobs/s with throughputClients in flight
}

const (
	throughputClients = 4
	throughputJobs    = 40
)

// benchBackends starts one server per backend, all at once and with the
// default pool, and measures them in alternating rounds, so that every
// backend sees the same machine: A+B latency in Python and C (runs
// POSTs each), then Python throughput with four clients.
func benchBackends(bin, cfgPath, dataDir string, names []string, runs int) ([]backendResult, error) {
	servers := make([]*testserver.Server, len(names))
	defer func() {
		for _, s := range servers {
			if s != nil {
				_ = s.Stop(testserver.KillAfter)
			}
		}
	}()
	for i, b := range names {
		s, err := testserver.Start(testserver.Options{Bin: bin, Config: cfgPath, DataDir: dataDir, Backend: b, Args: []string{"--log-level", "warn"}})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b, err)
		}
		servers[i] = s
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		err = s.WaitHealthy(ctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b, err)
		}
	}
	lat := map[string][][]time.Duration{} // language -> backend -> samples
	for _, lang := range []string{"python", "c"} {
		lat[lang] = make([][]time.Duration, len(names))
		for i, s := range servers { // one untimed round warms each
			if _, err := viaAPI(s.URL(), lang, programs[lang]); err != nil {
				return nil, fmt.Errorf("%s %s: %w", names[i], lang, err)
			}
		}
		for range runs {
			for i, s := range servers {
				d, err := viaAPI(s.URL(), lang, programs[lang])
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", names[i], lang, err)
				}
				lat[lang][i] = append(lat[lang][i], d)
			}
		}
	}
	out := make([]backendResult, len(names))
	for i, s := range servers {
		tp, err := load(throughputJobs, throughputClients, judgeLoad(s.URL(), programs["python"]))
		if err != nil {
			return nil, fmt.Errorf("%s throughput: %w", names[i], err)
		}
		out[i] = backendResult{backend: names[i], python: median(lat["python"][i]), c: median(lat["c"][i]), pythonThroughput: tp}
		fmt.Printf("%-10s python %7.1f ms   c %7.1f ms   python x%d %6.1f jobs/s\n", names[i], ms(out[i].python), ms(out[i].c), throughputClients, tp)
	}
	return out, nil
}

// backendTable is the markdown of the backend comparison, each backend
// also as a ratio to the first (container).
func backendTable(rs []backendResult, runs int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s; %s at the end. Median of %d POSTs per cell, rounds alternating between the backends; throughput: %d Python A+B jobs, %d clients, pool of %d.\n\n",
		machine(), loadAverage(), runs, throughputJobs, throughputClients, runtime.NumCPU())
	b.WriteString("| backend | A+B Python (ms) | A+B C (ms) | Python, 4 clients (jobs/s) |\n|---|---|---|---|\n")
	base := rs[0]
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %.1f (%.2f×) | %.1f (%.2f×) | %.1f (%.2f×) |\n", r.backend,
			ms(r.python), float64(r.python)/float64(base.python),
			ms(r.c), float64(r.c)/float64(base.c),
			r.pythonThroughput, r.pythonThroughput/base.pythonThroughput)
	}
	return b.String()
}
