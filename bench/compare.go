package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/pecan-judge/pecan/internal/proctable"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/tests/testserver"
)

// work is one job done the same way on every system compared: the
// language's compile command, then its run command on stdin, the output
// compared with want.
type work struct {
	name        string
	lang        *languages.Language
	src         string
	stdin, want string
	outputs     []string // what the compile makes that the run needs
}

// system is one way of doing a work: Pecan's API, go-judge's, or the
// commands run bare on the host.
type system struct {
	name string
	do   func(work) error
	cpu  func() (time.Duration, error) // host CPU used so far
}

// peerResult is the comparison: latency medians per work, throughput per
// number of clients, each per system (in systems' order).
type peerResult struct {
	systems    []string
	skipped    string // why go-judge is not among them
	runs       int
	works      []string
	latency    [][]time.Duration // [work][system]
	clients    []int
	throughput [][]float64       // [clients][system], jobs/s
	cpuPerJob  [][]time.Duration // [clients][system]
	jobs       int
}

// benchPeers compares Pecan with go-judge and with bare runs on the same
// works, alternating request by request (latency) and load by load
// (throughput) so that all three see the same machine.
func benchPeers(srv *server, langs *languages.Registry, pool, runs, loadJobs int) (peerResult, error) {
	py, _ := langs.Lookup("python")
	c, _ := langs.Lookup("c")
	if py == nil || c == nil {
		return peerResult{}, errors.New("python and c must be configured")
	}
	works := []work{
		{name: "tiny Python program (`print(1)`)", lang: py, src: tinyPython, want: "1\n"},
		{name: "Python A+B", lang: py, src: programs["python"], stdin: "1 2\n", want: "3\n"},
		{name: "C A+B, compile and run", lang: c, src: programs["c"], stdin: "1 2\n", want: "3\n", outputs: []string{"main"}},
	}
	systems := []system{{
		name: "Pecan",
		do: func(w work) error {
			_, a, err := postJob(srv.URL(), w.lang.ID, w.src, w.stdin, w.want, 5)
			if err == nil && a.Status != "Accepted" {
				err = fmt.Errorf("Pecan judged %s %q (%s%s)", w.name, a.Status, a.Error, a.CompileOutput)
			}
			return err
		},
		cpu: func() (time.Duration, error) { return treeCPU(srv.PID()) },
	}}
	res := peerResult{runs: runs, jobs: loadJobs, clients: []int{1, 2, 4}}
	gj, err := startGoJudge(pool)
	var noPeer errNoPeer
	switch {
	case errors.As(err, &noPeer):
		res.skipped = noPeer.reason
		fmt.Println("go-judge: skipped:", noPeer.reason)
	case err != nil:
		return res, fmt.Errorf("go-judge: %w", err)
	default:
		defer gj.stop()
		systems = append(systems, system{
			name: "go-judge " + goJudgeVersion,
			do:   func(w work) error { return gj.judge(w.lang, w.src, w.outputs, w.stdin, w.want) },
			cpu:  func() (time.Duration, error) { return treeCPU(gj.cmd.Process.Pid) },
		})
	}
	systems = append(systems, system{
		name: "bare",
		do: func(w work) error {
			_, err := bareSubmission(w.lang, w.src, []testserver.InlineTest{{Stdin: w.stdin, Answer: w.want}})
			return err
		},
		cpu: func() (time.Duration, error) { return childrenCPU(), nil },
	})
	for _, s := range systems {
		res.systems = append(res.systems, s.name)
	}

	for _, w := range works {
		lat, err := alternate(systems, w, runs)
		if err != nil {
			return res, fmt.Errorf("%s: %w", w.name, err)
		}
		res.works = append(res.works, w.name)
		res.latency = append(res.latency, lat)
		fmt.Printf("%-34s %s\n", w.name, latencyLine(res.systems, lat))
	}
	ab := works[1]
	for _, n := range res.clients {
		jps, cpu, err := throughputOf(systems, ab, n, loadJobs)
		if err != nil {
			return res, fmt.Errorf("throughput with %d clients: %w", n, err)
		}
		res.throughput = append(res.throughput, jps)
		res.cpuPerJob = append(res.cpuPerJob, cpu)
		fmt.Printf("Python A+B, %d client(s):%*s %s\n", n, 9, "", throughputLine(res.systems, jps, cpu))
	}
	fmt.Println("Goals of issue 14 (ratios of this run; the machine's load moves them):")
	for _, g := range res.goals() {
		fmt.Println("  " + g)
	}
	fmt.Println("  /bin/true in a prewarmed sandbox at most 1 ms over bare: go test -run X -bench 'RunTrue|BareTrue' ./backends/container/")
	return res, nil
}

// alternate times w on every system in turn, runs rounds after one
// untimed round, the order rotating each round, and returns the medians.
func alternate(systems []system, w work, runs int) ([]time.Duration, error) {
	times := make([][]time.Duration, len(systems))
	for round := -1; round < runs; round++ {
		for k := range systems {
			i := (k + max(round, 0)) % len(systems)
			start := time.Now()
			if err := systems[i].do(w); err != nil {
				return nil, fmt.Errorf("%s: %w", systems[i].name, err)
			}
			if round >= 0 {
				times[i] = append(times[i], time.Since(start))
			}
		}
	}
	out := make([]time.Duration, len(systems))
	for i, t := range times {
		out[i] = median(t)
	}
	return out, nil
}

// throughputRounds is how many times each system's load is repeated,
// alternating with the others'; the median round is reported.
const throughputRounds = 3

// throughputOf loads every system in turn with jobs copies of w, clients
// at a time, and returns the median jobs/s and host CPU per job of each.
func throughputOf(systems []system, w work, clients, jobs int) ([]float64, []time.Duration, error) {
	jps := make([][]float64, len(systems))
	cpu := make([][]time.Duration, len(systems))
	perRound := max(1, jobs/throughputRounds)
	for round := range throughputRounds {
		for k := range systems {
			i := (k + round) % len(systems)
			s := systems[i]
			c0, err := s.cpu()
			if err != nil {
				return nil, nil, fmt.Errorf("%s: cpu: %w", s.name, err)
			}
			r, err := load(perRound, clients, func() error { return s.do(w) })
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", s.name, err)
			}
			c1, err := s.cpu()
			if err != nil {
				return nil, nil, fmt.Errorf("%s: cpu: %w", s.name, err)
			}
			jps[i] = append(jps[i], r)
			cpu[i] = append(cpu[i], (c1-c0)/time.Duration(perRound))
		}
	}
	outJ := make([]float64, len(systems))
	outC := make([]time.Duration, len(systems))
	for i := range systems {
		sort.Float64s(jps[i])
		outJ[i] = jps[i][len(jps[i])/2]
		outC[i] = median(cpu[i])
	}
	return outJ, outC, nil
}

// treeCPU is the CPU time of process pid and everything below it, alive or
// waited for: a live process's own time, and the time of the ones that
// ended counted in their parents'.
func treeCPU(pid int) (time.Duration, error) {
	total, err := processCPU(pid)
	if err != nil {
		return 0, err
	}
	for _, p := range proctable.Descendants(proctable.List(), pid) {
		if t, err := processCPU(p.PID); err == nil {
			total += t
		}
	}
	return total, nil
}

// peerIndex is the column of go-judge, or -1 when it was skipped.
func (r peerResult) peerIndex() int {
	for i, s := range r.systems {
		if strings.HasPrefix(s, "go-judge") {
			return i
		}
	}
	return -1
}

func latencyLine(names []string, d []time.Duration) string {
	var b strings.Builder
	for i, n := range names {
		fmt.Fprintf(&b, "%s %7.1f ms   ", n, ms(d[i]))
	}
	fmt.Fprintf(&b, "Pecan/%s %.2f", names[len(names)-1], float64(d[0])/float64(d[len(d)-1]))
	if len(d) == 3 {
		fmt.Fprintf(&b, "  Pecan/go-judge %.2f", float64(d[0])/float64(d[1]))
	}
	return b.String()
}

func throughputLine(names []string, jps []float64, cpu []time.Duration) string {
	var b strings.Builder
	for i, n := range names {
		fmt.Fprintf(&b, "%s %6.1f jobs/s (%.1f ms CPU/job)   ", n, jps[i], ms(cpu[i]))
	}
	fmt.Fprintf(&b, "Pecan/bare %.2f", jps[0]/jps[len(jps)-1])
	if len(jps) == 3 {
		fmt.Fprintf(&b, "  Pecan/go-judge %.2f", jps[0]/jps[1])
	}
	return b.String()
}

// goals are issue 14's targets, checked against the comparison: each a
// line saying the figure, the target and whether it was met.
func (r peerResult) goals() []string {
	gj, bare := r.peerIndex(), len(r.systems)-1
	check := func(what string, got, limit float64, atMost bool) string {
		met := got >= limit
		cmp := "≥"
		if atMost {
			met, cmp = got <= limit, "≤"
		}
		verdict := "met"
		if !met {
			verdict = "NOT met"
		}
		return fmt.Sprintf("%s: %.2f (goal %s %.2f): %s", what, got, cmp, limit, verdict)
	}
	var out []string
	last := len(r.clients) - 1
	t := r.throughput[last]
	out = append(out, check(fmt.Sprintf("Python A+B throughput, %d clients, Pecan / bare", r.clients[last]), t[0]/t[bare], 0.9, false))
	if gj >= 0 {
		out = append(out, check(fmt.Sprintf("Python A+B throughput, %d clients, Pecan / go-judge", r.clients[last]), t[0]/t[gj], 1.5, false))
	}
	// On saturated cores throughput follows the inverse of the CPU a job
	// costs, the figure that moves least with the machine's load.
	c := r.cpuPerJob[last]
	out = append(out, fmt.Sprintf("host CPU per job, %d clients, bare / Pecan: %.2f", r.clients[last], float64(c[bare])/float64(c[0])))
	if gj >= 0 {
		out = append(out, fmt.Sprintf("host CPU per job, %d clients, go-judge / Pecan: %.2f", r.clients[last], float64(c[gj])/float64(c[0])))
	}
	for i, w := range r.works {
		if strings.HasPrefix(w, "tiny") {
			continue
		}
		d := r.latency[i]
		out = append(out, check(w+" latency, Pecan / bare", float64(d[0])/float64(d[bare]), 1.10, true))
	}
	return out
}

// peerTable is the markdown of the comparison.
func peerTable(r peerResult, load string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s (`make bench`); %s.\n\n", machine(), load)
	gj := r.peerIndex()
	bare := len(r.systems) - 1
	if gj < 0 {
		fmt.Fprintf(&b, "go-judge was not measured: %s.\n\n", r.skipped)
	}
	ratio := func(a, b float64) string { return fmt.Sprintf("%.2f", a/b) }
	b.WriteString("| latency, median of " + fmt.Sprint(r.runs) + " | " + strings.Join(r.systems, " (ms) | ") + " (ms) | Pecan / go-judge | Pecan / bare |\n")
	b.WriteString("|---" + strings.Repeat("|---", len(r.systems)+2) + "|\n")
	for i, w := range r.works {
		d := r.latency[i]
		fmt.Fprintf(&b, "| %s |", w)
		for _, x := range d {
			fmt.Fprintf(&b, " %.1f |", ms(x))
		}
		vs := "—"
		if gj >= 0 {
			vs = ratio(float64(d[0]), float64(d[gj]))
		}
		fmt.Fprintf(&b, " %s | %s |\n", vs, ratio(float64(d[0]), float64(d[bare])))
	}
	fmt.Fprintf(&b, "\n| Python A+B throughput, %d jobs | %s (jobs/s) | Pecan / go-judge | Pecan / bare | host CPU per job: %s (ms) |\n",
		r.jobs, strings.Join(r.systems, " (jobs/s) | "), strings.Join(r.systems, " / "))
	b.WriteString("|---" + strings.Repeat("|---", len(r.systems)+3) + "|\n")
	for i, n := range r.clients {
		t := r.throughput[i]
		fmt.Fprintf(&b, "| %d client(s) |", n)
		for _, x := range t {
			fmt.Fprintf(&b, " %.1f |", x)
		}
		vs := "—"
		if gj >= 0 {
			vs = ratio(t[0], t[gj])
		}
		var cpu []string
		for _, c := range r.cpuPerJob[i] {
			cpu = append(cpu, fmt.Sprintf("%.1f", ms(c)))
		}
		fmt.Fprintf(&b, " %s | %s | %s |\n", vs, ratio(t[0], t[bare]), strings.Join(cpu, " / "))
	}
	b.WriteString("\nGoals of issue 14 in this run:\n\n")
	for _, g := range r.goals() {
		fmt.Fprintf(&b, "- %s\n", g)
	}
	return b.String()
}

// loadAverage is the host's load while the bench ran, for the reader to
// judge how quiet the machine was.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load average unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "load average unknown"
	}
	return "load average " + strings.Join(f[:3], " ")
}
