// Command bench measures what judging through Pecan costs next to doing
// the same work bare on the host and on go-judge, the peer users pick for
// speed. Every comparison alternates its sides request by request (or load
// by load) so that all see the same machine state:
//
//   - peers: a tiny Python program, Python A+B and C A+B (compile and
//     run) through Pecan's API, through go-judge's, and as the language's
//     own commands run bare; then the throughput of Python A+B with 1, 2
//     and 4 clients and the host CPU each system spends per job;
//   - start-up: Java, Kotlin and TypeScript A+B against the same server
//     binary running the language commands of a baseline commit;
//   - languages: A+B in every language, API against bare;
//   - submissions, cluster: a 50-test submission; hand-overs and
//     throughput of clustered nodes;
//   - backends: A+B latency and Python throughput on each backend
//     (--backends), against the first.
//
// It prints the medians and their ratios and, with --out, writes them
// into BENCHMARKS.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/tests/testserver"
)

// httpClient keeps a connection per client of the heaviest load alive, so
// that no system compared pays for new connections.
var httpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 5 * time.Minute}

type result struct {
	lang      string
	runs      int
	api, bare time.Duration
}

func main() {
	cfgPath := flag.String("config", "pecan.toml", "configuration file")
	dataDir := flag.String("data-dir", testserver.DataDir(), "server data dir (the e2e tests' too, so toolchain setup is reused)")
	out := flag.String("out", "", "write the results into this markdown file")
	runs := flag.Int("runs", 9, "timed runs per language (kotlin and rust get a third)")
	only := flag.String("languages", "c,cpp,python,java,node,go,rust,typescript,kotlin", "languages to measure")
	cluster := flag.Bool("cluster", true, "also measure clustering: remote against local jobs, one node against three")
	submissions := flag.Bool("submissions-only", false, "measure only the 50-test submissions (and tests in parallel)")
	parallel := flag.Bool("parallel", true, "also measure a submission's tests in parallel, and a rejudge against cold")
	peers := flag.Bool("peers", true, "compare with go-judge and bare runs: latency and throughput of Python and C jobs")
	peersOnly := flag.Bool("peers-only", false, "measure only the comparison with go-judge and bare runs")
	peerRuns := flag.Int("peer-runs", 21, "timed rounds per job in the comparison")
	loadJobs := flag.Int("load-jobs", 300, "jobs per system and number of clients in the throughput comparison")
	startup := flag.Bool("startup", true, "compare Java, Kotlin and TypeScript with the commands of --baseline-rev (before the start-up archives)")
	startupOnly := flag.Bool("startup-only", false, "measure only the comparison of Java, Kotlin and TypeScript with --baseline-rev")
	baselineRev := flag.String("baseline-rev", startupBaseline, "commit whose pecan.toml the start-up comparison runs as its baseline")
	backends := flag.String("backends", "container,isolate,nsjail,gvisor", "backends to compare (A+B latency, Python throughput), the first the baseline; empty for none")
	backendsOnly := flag.Bool("backends-only", false, "measure only the backend comparison")
	flag.Parse()
	o := options{runs: *runs, ids: strings.Split(*only, ","), cluster: *cluster, submissions: true,
		peers: *peers, peerRuns: *peerRuns, loadJobs: *loadJobs, startup: *startup, baselineRev: *baselineRev, parallel: *parallel}
	switch {
	case *backendsOnly:
		if err := runBackends(*cfgPath, *dataDir, *out, *runs, *backends); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	case *submissions:
		*backends = ""
		o = options{runs: *runs, submissions: true, parallel: *parallel}
	case *peersOnly:
		*backends = ""
		o = options{runs: *runs, peers: true, peerRuns: *peerRuns, loadJobs: *loadJobs}
	case *startupOnly:
		*backends = ""
		o = options{runs: *runs, startup: true, baselineRev: *baselineRev}
	}
	if err := run(*cfgPath, *dataDir, *out, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if err := runBackends(*cfgPath, *dataDir, *out, *runs, *backends); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runBackends compares the backends named (comma-separated) and writes
// the bench-backends section.
func runBackends(cfgPath, dataDir, out string, runs int, names string) error {
	if names == "" {
		return nil
	}
	absData, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	binDir, err := os.MkdirTemp("", "pecan-bench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(binDir)
	bin, err := testserver.Build(binDir)
	if err != nil {
		return err
	}
	rs, err := benchBackends(bin, cfgPath, absData, strings.Split(names, ","), 3*runs)
	if err != nil {
		return fmt.Errorf("backends: %w", err)
	}
	if out != "" {
		return writeSection(out, "bench-backends", backendTable(rs, 3*runs))
	}
	return nil
}

// options say what run measures.
type options struct {
	runs        int
	ids         []string
	cluster     bool
	submissions bool
	peers       bool
	peerRuns    int
	loadJobs    int
	startup     bool
	baselineRev string
	parallel    bool
}

func run(cfgPath, dataDir, out string, o options) error {
	runs, ids, cluster := o.runs, o.ids, o.cluster
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	absData, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	langs, err := languages.New(cfg.Languages, cfg.Env, filepath.Join(absData, "languages"))
	if err != nil {
		return err
	}
	srv, err := startServer(cfgPath, absData)
	if err != nil {
		return err
	}
	defer srv.cleanup()

	if o.peers {
		before := loadAverage()
		r, err := benchPeers(srv, langs, cfg.PoolSize, o.peerRuns, o.loadJobs)
		if err != nil {
			return fmt.Errorf("comparison with go-judge and bare: %w", err)
		}
		load := fmt.Sprintf("%s before, %s after", before, loadAverage())
		fmt.Println(load)
		if out != "" {
			if err := writeSection(out, "bench-peers", peerTable(r, load)); err != nil {
				return err
			}
		}
	}

	if o.startup {
		r, err := benchStartup(srv, cfgPath, absData, o.baselineRev, runs)
		var noBaseline errNoPeer
		switch {
		case errors.As(err, &noBaseline):
			// A checkout without the baseline commit (a release tarball,
			// a shallow clone) cannot run it; the rest still can.
			fmt.Println("start-up comparison: skipped:", err)
		case err != nil:
			return fmt.Errorf("start-up comparison: %w", err)
		case out != "":
			if err := writeSection(out, "bench-startup", startupTable(r)); err != nil {
				return err
			}
		}
	}

	var results []result
	for _, id := range ids {
		if id == "" {
			continue
		}
		l, ok := langs.Lookup(id)
		if !ok {
			return fmt.Errorf("unknown language %q", id)
		}
		src, ok := programs[l.ID]
		if !ok {
			return fmt.Errorf("no A+B program for %s", l.ID)
		}
		n := runs
		if l.ID == "kotlin" || l.ID == "rust" {
			n = max(3, runs/3)
		}
		r, err := measure(srv.URL(), l, src, n)
		if err != nil {
			return fmt.Errorf("%s: %w", l.ID, err)
		}
		fmt.Printf("%-11s api %8.1f ms   bare %8.1f ms   ratio %.3f  (n=%d)\n", l.ID, ms(r.api), ms(r.bare), ratio(r), r.runs)
		results = append(results, r)
	}
	if out != "" && len(results) > 0 {
		if err := writeSection(out, "bench", languageTable(results)); err != nil {
			return err
		}
	}
	if !o.submissions {
		return nil
	}
	var subs []subResult
	for _, id := range []string{"cpp", "python"} {
		l, _ := langs.Lookup(id)
		r, err := benchSubmission(srv.URL(), l, programs[id], max(3, runs/3))
		if err != nil {
			return fmt.Errorf("submission %s: %w", id, err)
		}
		fmt.Printf("%-11s %d-test submission: api %8.1f ms   bare %8.1f ms   ratio %.3f  (n=%d)\n", id, r.tests, ms(r.api), ms(r.bare), float64(r.api)/float64(r.bare), r.runs)
		subs = append(subs, r)
	}
	if out != "" {
		if err := writeSection(out, "bench-submission", submissionTable(subs)); err != nil {
			return err
		}
	}
	srv.stop() // the benchmarks below start servers of their own
	if o.parallel {
		pr, err := benchParallel(srv.bin, cfgPath, absData, max(3, runs/3))
		if err != nil {
			return fmt.Errorf("parallel tests: %w", err)
		}
		table := parallelTable(pr)
		fmt.Print(table)
		if out != "" {
			if err := writeSection(out, "bench-parallel", table); err != nil {
				return err
			}
		}
	}
	if !cluster {
		return nil
	}
	cr, err := benchCluster(srv.bin, cfgPath, absData, 3*runs)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	table := clusterTable(cr)
	fmt.Print(table)
	if out != "" {
		return writeSection(out, "bench-cluster", table)
	}
	return nil
}

func measure(url string, l *languages.Language, src string, n int) (result, error) {
	// One untimed round each warms caches on both sides.
	if _, err := viaAPI(url, l.ID, src); err != nil {
		return result{}, err
	}
	if _, err := bare(l, src); err != nil {
		return result{}, err
	}
	var api, host []time.Duration
	for i := 0; i < n; i++ {
		a, err := viaAPI(url, l.ID, src)
		if err != nil {
			return result{}, err
		}
		b, err := bare(l, src)
		if err != nil {
			return result{}, err
		}
		api, host = append(api, a), append(host, b)
	}
	return result{lang: l.ID, runs: n, api: median(api), bare: median(host)}, nil
}

func viaAPI(url, lang, src string) (time.Duration, error) {
	d, a, err := post(url, lang, src, 2)
	if err == nil && a.Status != "Accepted" {
		err = fmt.Errorf("API judged A+B %q (%s%s)", a.Status, a.Error, a.CompileOutput)
	}
	return d, err
}

// answer is the part of a judge-single response bench reads.
type answer struct {
	Status        string `json:"status"`
	Node          string `json:"node"`
	CompileOutput string `json:"compile_output"`
	Error         string `json:"error"`
}

// post judges src with stdin "1 2" against "3" and returns the
// client-side latency and the answer.
func post(url, lang, src string, timeLimit float64) (time.Duration, answer, error) {
	return postJob(url, lang, src, "1 2\n", "3\n", timeLimit)
}

// postJob judges src with stdin against want and returns the client-side
// latency and the answer.
func postJob(url, lang, src, stdin, want string, timeLimit float64) (time.Duration, answer, error) {
	body, _ := json.Marshal(map[string]any{
		"code": src, "language": lang, "stdin": stdin, "desired_stdout": want,
		"time_limit": timeLimit, "memory_limit": 262144,
	})
	var a answer
	start := time.Now()
	resp, err := httpClient.Post(url+"/v1/judge/judge-single", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, a, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return 0, a, err
	}
	return time.Since(start), a, nil
}

// bare runs the language's compile and run commands directly on the host,
// on A+B's one test.
func bare(l *languages.Language, src string) (time.Duration, error) {
	return bareSubmission(l, src, []testserver.InlineTest{{Stdin: "1 2\n", Answer: "3\n"}})
}

// bareSource writes src into a new temporary directory as the language
// names its source, and returns the directory and the variables of its
// commands. The caller removes the directory.
func bareSource(l *languages.Language, src string) (string, languages.Vars, error) {
	dir, err := os.MkdirTemp("", "pecan-bench-")
	if err != nil {
		return "", languages.Vars{}, err
	}
	name := l.SourceName([]byte(src))
	files, main, err := l.Sources([]string{name})
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", languages.Vars{}, err
	}
	return dir, languages.Vars{MemoryMiB: 256, Files: files, Main: main}, nil
}

func execIn(dir string, env, args []string, stdin string) (string, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// server is the bench's `pecan serve` and the directory of its binary.
type server struct {
	*testserver.Server
	bin, binDir string
	stopOnce    sync.Once
}

// startServer builds the server and starts it with the default pool,
// logging warnings to stderr, and waits for it to serve.
func startServer(cfgPath, dataDir string) (*server, error) {
	binDir, err := os.MkdirTemp("", "pecan-bench-bin-")
	if err != nil {
		return nil, err
	}
	bin, err := testserver.Build(binDir)
	if err != nil {
		os.RemoveAll(binDir)
		return nil, err
	}
	srv, err := testserver.Start(testserver.Options{
		Bin: bin, Config: cfgPath, DataDir: dataDir, Args: []string{"--log-level", "warn"},
	})
	if err != nil {
		os.RemoveAll(binDir)
		return nil, err
	}
	s := &server{Server: srv, bin: bin, binDir: binDir}
	// The server has a process group of its own, so a Ctrl-C at the
	// terminal reaches only bench: pass the first one on as SIGTERM. The
	// work in progress then fails and run's deferred stop cleans up.
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-interrupted
		signal.Stop(interrupted) // a second Ctrl-C ends bench at once
		_ = s.Terminate()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := srv.WaitHealthy(ctx); err != nil {
		s.stop()
		return nil, fmt.Errorf("server did not become healthy: %w", err)
	}
	return s, nil
}

// stop shuts the server down, however long it takes (up to
// testserver.KillAfter). The binary stays for the cluster benchmark until
// cleanup.
func (s *server) stop() {
	s.stopOnce.Do(func() {
		_ = s.Terminate() // after a Ctrl-C it may have exited already
		if err := s.WaitExit(time.Now(), testserver.KillAfter); err != nil {
			fmt.Fprintln(os.Stderr, "bench: server:", err)
		}
	})
}

// cleanup stops the server and removes its binary and copies.
func (s *server) cleanup() {
	s.stop()
	os.RemoveAll(s.binDir)
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func ratio(r result) float64     { return float64(r.api) / float64(r.bare) }

// languageTable is the markdown of the A+B comparison.
func languageTable(results []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s (`make bench`).\n\n", machine())
	b.WriteString("| language | runs | API median (ms) | bare median (ms) | ratio |\n|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %d | %.1f | %.1f | %.3f |\n", r.lang, r.runs, ms(r.api), ms(r.bare), ratio(r))
	}
	return b.String()
}

// clusterTable is the markdown of the cluster benchmark.
func clusterTable(r clusterResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s (`make bench`); servers of one sandbox each on loopback.\n\n", machine())
	b.WriteString("| python A+B run on member B | median (ms) |\n|---|---|\n")
	fmt.Fprintf(&b, "| sent to B | %.1f |\n", ms(r.local))
	fmt.Fprintf(&b, "| sent to A, whose sandbox is busy, and handed to B | %.1f |\n", ms(r.remote))
	fmt.Fprintf(&b, "| cost of the hand-over | %+.1f ms (%.2f×), n=%d |\n\n", ms(r.remote-r.local), float64(r.remote)/float64(r.local), r.runs)
	b.WriteString("| load, all sent to node A | jobs | one node (jobs/s) | three nodes (jobs/s) | ratio |\n|---|---|---|---|---|\n")
	for _, t := range r.throughput {
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.2f |\n", t.load, t.jobs, t.alone, t.trio, t.trio/t.alone)
	}
	return b.String()
}

func machine() string {
	return fmt.Sprintf("%s on %s, %d CPUs, %s", time.Now().UTC().Format("2006-01-02 15:04 MST"),
		cpuModel(), runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH)
}

// writeSection replaces the generated section name of the file, between
// its markers, keeping the hand-written analysis around it.
func writeSection(path, name, body string) error {
	begin, end := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	section := begin + "\n" + body + end
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	text := string(old)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i >= 0 && j > i {
		text = text[:i] + section + text[j+len(end):]
	} else {
		text += "\n" + section + "\n"
	}
	return os.WriteFile(path, []byte(text), 0o644)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
