package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// startupBaseline is the commit whose pecan.toml has the language
// commands from before the toolchains' start-up archives (issue 14): the
// JVM's class-data sharing for javac and kotlinc, tsc's snapshot.
const startupBaseline = "779c1d6e0f7491e3a11f282d400130f0246e4416"

// startupLanguages are the languages whose toolchain start dominates.
var startupLanguages = []string{"java", "kotlin", "typescript"}

// startupResult is each language's A+B latency now and with the
// baseline's commands, alternated in the same run.
type startupResult struct {
	rev     string
	runs    int
	langs   []string
	now, at []time.Duration
}

// benchStartup starts a second server, the same binary with the
// baseline commit's pecan.toml, and alternates A+B between it and srv.
func benchStartup(srv *server, cfgPath, dataDir, rev string, runs int) (startupResult, error) {
	res := startupResult{rev: rev, runs: runs}
	cfg, err := baselineConfig(cfgPath, rev)
	if err != nil {
		return res, errNoPeer{err.Error()}
	}
	defer os.Remove(cfg)
	base, err := testserver.StartHealthy(testserver.Options{
		Bin: srv.bin, Config: cfg, DataDir: dataDir, Args: []string{"--log-level", "warn"},
	}, 10*time.Minute)
	if err != nil {
		return res, fmt.Errorf("baseline server: %w", err)
	}
	defer func() {
		if err := base.Stop(testserver.KillAfter); err != nil {
			fmt.Fprintln(os.Stderr, "bench: baseline server:", err)
		}
	}()
	for _, id := range startupLanguages {
		n := runs
		if id == "kotlin" {
			n = max(3, runs/3)
		}
		var now, at []time.Duration
		for i := -1; i < n; i++ { // the first round warms both
			a, err := viaAPI(srv.URL(), id, programs[id])
			if err != nil {
				return res, fmt.Errorf("%s: %w", id, err)
			}
			b, err := viaAPI(base.URL(), id, programs[id])
			if err != nil {
				return res, fmt.Errorf("%s with the baseline's commands: %w", id, err)
			}
			if i >= 0 {
				now, at = append(now, a), append(at, b)
			}
		}
		res.langs = append(res.langs, id)
		res.now, res.at = append(res.now, median(now)), append(res.at, median(at))
		fmt.Printf("%-11s now %8.1f ms   with %.7s's commands %8.1f ms   ratio %.2f  (n=%d)\n", id, ms(median(now)), rev, ms(median(at)), float64(median(now))/float64(median(at)), n)
	}
	return res, nil
}

// baselineConfig writes the pecan.toml of rev into a temporary file
// beside cfgPath's repository checkout.
func baselineConfig(cfgPath, rev string) (string, error) {
	root, err := testserver.RepoRoot()
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, mustAbs(cfgPath))
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = "pecan.toml"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "show", rev+":"+filepath.ToSlash(rel))
	cmd.Dir = root
	text, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git show %.7s:%s (the baseline's configuration): %w", rev, rel, err)
	}
	f, err := os.CreateTemp("", "pecan-bench-baseline-*.toml")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(text); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func mustAbs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func startupTable(r startupResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s (`make bench`); %s.\n\n", machine(), loadAverage())
	fmt.Fprintf(&b, "| A+B, compile and run | runs | now (ms) | commands of %.7s (ms) | ratio |\n|---|---|---|---|---|\n", r.rev)
	for i, l := range r.langs {
		n := r.runs
		if l == "kotlin" {
			n = max(3, r.runs/3)
		}
		fmt.Fprintf(&b, "| %s | %d | %.1f | %.1f | %.2f |\n", l, n, ms(r.now[i]), ms(r.at[i]), float64(r.now[i])/float64(r.at[i]))
	}
	return b.String()
}
