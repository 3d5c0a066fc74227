package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// parallelResult is the parallel-tests benchmark: one 50-test C++
// submission with its tests one after another and two at once, and a
// rejudge of 20 submissions against the same 20 judged cold.
type parallelResult struct {
	tests, runs          int
	sequential, parallel time.Duration // medians, A+B
	// The same for a program that spends about 30 ms of CPU on each test.
	spinSequential, spinParallel time.Duration
	rejudged                     int
	cold, rejudge                time.Duration // totals
	coldCompiles                 int
	rejudgeCompiles              int
}

// benchParallel starts two servers of two sandboxes each, one running a
// submission's tests one after another (max_parallel_tests = 1) and one
// two at once, and alternates the same submission between them; then it
// judges 20 new submissions on the parallel one, and all 20 again.
func benchParallel(bin, cfgPath, dataDir string, runs int) (parallelResult, error) {
	res := parallelResult{tests: submissionTests, runs: runs, rejudged: 20}
	seq, err := startWith(bin, cfgPath, dataDir, 1, "sequential")
	if err != nil {
		return res, err
	}
	defer seq.cleanup()
	par, err := startWith(bin, cfgPath, dataDir, 2, "parallel")
	if err != nil {
		return res, err
	}
	defer par.cleanup()

	client := &http.Client{Timeout: 5 * time.Minute}
	tests := abTests(submissionTests)
	judge := func(url, src string, n int) (time.Duration, error) {
		start := time.Now()
		r, err := testserver.JudgeSubmission(client, url, testserver.Submission{Language: "cpp", Code: src, Tests: tests[:n]})
		if err == nil && r.Status != "Accepted" {
			err = fmt.Errorf("judged %s", r)
		}
		return time.Since(start), err
	}
	// Compiled once on each server, untimed: the comparison is of the
	// tests.
	src := programs["cpp"]
	compare := func(src string) (time.Duration, time.Duration, error) {
		for _, url := range []string{seq.URL(), par.URL()} {
			if _, err := judge(url, src, submissionTests); err != nil {
				return 0, 0, err
			}
		}
		var s, p []time.Duration
		for range runs {
			a, err := judge(seq.URL(), src, submissionTests)
			if err != nil {
				return 0, 0, err
			}
			b, err := judge(par.URL(), src, submissionTests)
			if err != nil {
				return 0, 0, err
			}
			s, p = append(s, a), append(p, b)
		}
		return median(s), median(p), nil
	}
	if res.sequential, res.parallel, err = compare(src); err != nil {
		return res, err
	}
	if res.spinSequential, res.spinParallel, err = compare(spinAB); err != nil {
		return res, err
	}

	// 20 submissions no server compiled before, then the same again.
	nonce := time.Now().UnixNano()
	var srcs []string
	for i := range res.rejudged {
		srcs = append(srcs, fmt.Sprintf("// bench rejudge %d %d\n%s", nonce, i, src))
	}
	pass := func() (time.Duration, int, error) {
		before, err := testserver.Compiles(client, par.URL(), "cpp")
		if err != nil {
			return 0, 0, err
		}
		start := time.Now()
		for _, s := range srcs {
			if _, err := judge(par.URL(), s, 10); err != nil {
				return 0, 0, err
			}
		}
		took := time.Since(start)
		after, err := testserver.Compiles(client, par.URL(), "cpp")
		return took, after - before, err
	}
	if res.cold, res.coldCompiles, err = pass(); err != nil {
		return res, err
	}
	res.rejudge, res.rejudgeCompiles, err = pass()
	return res, err
}

// startWith starts bin with cfgPath changed to run at most parallel
// tests of a submission at once, on a pool of two.
func startWith(bin, cfgPath, dataDir string, parallel int, name string) (*server, error) {
	conf, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	c := strings.Replace(string(conf), "max_parallel_tests = 0", fmt.Sprintf("max_parallel_tests = %d", parallel), 1)
	if c == string(conf) {
		return nil, fmt.Errorf("%s has no max_parallel_tests = 0 to change", cfgPath)
	}
	dir, err := os.MkdirTemp("", "pecan-bench-"+name+"-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "pecan.toml")
	if err := os.WriteFile(path, []byte(c), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	own, err := testserver.CopyBinary(bin, filepath.Join(dir, "bin"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	srv, err := testserver.Start(testserver.Options{
		Bin: own, Config: path, DataDir: dataDir, Pool: 2, Args: []string{"--log-level", "warn"},
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &server{Server: srv, bin: own, binDir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := srv.WaitHealthy(ctx); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("%s server did not become healthy: %w", name, err)
	}
	return s, nil
}

// spinAB is A+B after about 30 ms of CPU.
const spinAB = `#include <ctime>
#include <iostream>
int main() {
	while (std::clock() < CLOCKS_PER_SEC * 3 / 100) {}
	long a, b; std::cin >> a >> b; std::cout << a + b << "\n";
}
`

func abTests(n int) []testserver.InlineTest {
	var tests []testserver.InlineTest
	for i := range n {
		tests = append(tests, testserver.InlineTest{Stdin: fmt.Sprintf("%d %d\n", i, i+1), Answer: fmt.Sprintf("%d\n", 2*i+1)})
	}
	return tests
}

func parallelTable(r parallelResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s (`make bench`); two servers of two sandboxes each, used one at a time.\n\n", machine())
	fmt.Fprintf(&b, "| C++, %d tests, compiled already (medians, n=%d) | A+B (ms) | A+B after 30 ms of CPU (ms) |\n|---|---|---|\n", r.tests, r.runs)
	fmt.Fprintf(&b, "| one test after another (`max_parallel_tests = 1`) | %.1f | %.1f |\n", ms(r.sequential), ms(r.spinSequential))
	fmt.Fprintf(&b, "| two at once (the default on a pool of two) | %.1f | %.1f |\n", ms(r.parallel), ms(r.spinParallel))
	fmt.Fprintf(&b, "| parallel / sequential (goal ≤ 0.6×) | %.2f× | %.2f× |\n\n", float64(r.parallel)/float64(r.sequential), float64(r.spinParallel)/float64(r.spinSequential))
	fmt.Fprintf(&b, "| %d C++ submissions of 10 tests, one after another | total (ms) | compiles |\n|---|---|---|\n", r.rejudged)
	fmt.Fprintf(&b, "| judged cold | %.1f | %d |\n", ms(r.cold), r.coldCompiles)
	fmt.Fprintf(&b, "| the same again (a rejudge) | %.1f | %d |\n", ms(r.rejudge), r.rejudgeCompiles)
	fmt.Fprintf(&b, "| rejudge / cold | %.2f× |\n", float64(r.rejudge)/float64(r.cold))
	return b.String()
}
