package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/messages"
	"github.com/pecan-judge/pecan/plan"
)

// problemJob is `pecan judge --problem PACKAGE FILE...`.
type problemJob struct {
	pkg             string
	files           []string
	language, mode  string
	timeLimit       float64
	memLimit        int64
	timeSet, memSet bool
	server, token   string
}

// judgeProblem judges a submission of files against a problem package,
// against a running server or in a pool of its own, printing a line per
// test and a summary. It fails unless the submission is Accepted.
func judgeProblem(f *serverFlags, j problemJob) error {
	if len(j.files) == 0 {
		return errors.New("usage: pecan judge --problem PACKAGE [flags] FILE...")
	}
	archive, contentType, err := readPackage(j.pkg)
	if err != nil {
		return err
	}
	sources, err := readSources(j.files)
	if err != nil {
		return err
	}
	var res *messages.ExecuteResponse
	if j.server != "" {
		if j.language == "" {
			j.language = strings.TrimPrefix(filepath.Ext(j.files[0]), ".")
		}
		res, err = judgeProblemRemote(j, archive, contentType, sources)
	} else {
		res, err = judgeProblemHere(f, j, archive, contentType, sources)
	}
	if err != nil {
		return err
	}
	printSummary(os.Stdout, res)
	if res.Status != "Accepted" {
		return fmt.Errorf("judged %s", res.Status)
	}
	return nil
}

// readPackage is the package at path as an archive: a directory is
// packed as a tar of its regular files.
func readPackage(path string) ([]byte, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", err
	}
	if !st.IsDir() {
		b, err := os.ReadFile(path)
		return b, archiveType(path), err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == path {
			return err
		}
		rel, err := filepath.Rel(path, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return fmt.Errorf("%s: only files and directories can be in a problem package", p)
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	return buf.Bytes(), "application/x-tar", err
}

func archiveType(path string) string {
	switch p := strings.ToLower(path); {
	case strings.HasSuffix(p, ".zip"):
		return "application/zip"
	case strings.HasSuffix(p, ".tar.gz"), strings.HasSuffix(p, ".tgz"):
		return "application/gzip"
	}
	return "application/x-tar"
}

// readSources are the submission's files, by their base names.
func readSources(paths []string) ([]*messages.SourceFile, error) {
	seen := map[string]bool{}
	var out []*messages.SourceFile
	for _, p := range paths {
		name := filepath.Base(p)
		if seen[name] {
			return nil, fmt.Errorf("two files are named %s", name)
		}
		seen[name] = true
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, &messages.SourceFile{Name: name, Content: b})
	}
	return out, nil
}

// judgeProblemHere stores the package in a store of its own, for this
// run only, and judges the submission in a one-sandbox pool, printing
// each test as it is decided.
func judgeProblemHere(f *serverFlags, j problemJob, archive []byte, contentType string, sources []*messages.SourceFile) (*messages.ExecuteResponse, error) {
	cfg, logger, err := f.loadWithLogger()
	if err != nil {
		return nil, err
	}
	cfg.PoolSize = 1
	cfg.Cluster.Bind = "" // a pool of its own, never a cluster member
	if j.language == "" {
		if j.language, err = languageByExtension(cfg, filepath.Ext(j.files[0])); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(cfg.DataDir, "judge-problem-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	cfg.Problems.StoreDir = tmp
	stores, err := openProblems(cfg, logger)
	if err != nil {
		return nil, err
	}
	defer stores.close()
	p, _, err := stores.problems.Add(bytes.NewReader(archive), contentType)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	lines := newTestPrinter(os.Stdout)
	n, err := startNode(ctx, cfg, logger, nodeExtras{problems: stores, artifacts: stores.artifacts, onTestResult: func(_ string, t *messages.TestResult) { lines.print(t) }})
	if err != nil {
		return nil, err
	}
	defer n.stop(ctx)
	l, ok := n.langs.Lookup(j.language)
	if !ok {
		return nil, fmt.Errorf("unknown language %q (valid: %s)", j.language, strings.Join(n.langs.Names(), ", "))
	}
	lim := problemLimits(cfg, j)
	req := &messages.ExecuteRequest{
		RequestId: uuid.NewString(), Language: l.ID, Files: sources, Limits: lim,
		Submission: &messages.Submission{ProblemId: p.ID, Mode: j.mode},
	}
	vlang := l
	if p.Validator != nil {
		vlang, _ = n.langs.Lookup(p.Validator.Language)
	}
	budget := plan.SubmissionBudget(l, vlang, req, cfg.Limits, plan.FromProblem(p), config.Seconds(cfg.QueueTimeout))
	runCtx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	res, err := n.pool.Execute(runCtx, req)
	if err != nil {
		return nil, err
	}
	if res.Failure != messages.Failure_FAILURE_NONE || res.Error != "" {
		return nil, fmt.Errorf("not judged: %s %s", res.Failure, res.Error)
	}
	return res, nil
}

// problemLimits are the request's limits: the flags when given, else
// the server's defaults (the problem's own limits take precedence).
func problemLimits(cfg config.Config, j problemJob) *messages.Limits {
	cpu, mem := cfg.Limits.DefaultTime, cfg.Limits.DefaultMemoryKiB
	if j.timeSet {
		cpu = j.timeLimit
	}
	if j.memSet {
		mem = j.memLimit
	}
	return &messages.Limits{CpuSeconds: cpu, WallSeconds: min(cpu*cfg.Limits.WallFactor+1, cfg.Limits.MaxWallTime), MemoryKib: mem}
}

// judgeProblemRemote uploads the package to the server and judges the
// submission there, showing a progress bar as tests finish; the tests
// are printed in order once the answer is in.
func judgeProblemRemote(j problemJob, archive []byte, contentType string, sources []*messages.SourceFile) (*messages.ExecuteResponse, error) {
	base := strings.TrimRight(j.server, "/")
	client := tokenClient(30*time.Minute, j.token)
	var sum struct {
		ID string `json:"id"`
	}
	if err := callJSON(client, base+"/v1/problems", contentType, archive, &sum); err != nil {
		return nil, fmt.Errorf("upload the problem: %w", err)
	}
	files := make([]map[string]string, len(sources))
	for i, f := range sources {
		files[i] = map[string]string{"name": f.Name, "content": base64.StdEncoding.EncodeToString(f.Content), "encoding": "base64"}
	}
	body := map[string]any{"language": j.language, "files": files, "problem": sum.ID, "mode": j.mode}
	if j.timeSet {
		body["time_limit"] = j.timeLimit
	}
	if j.memSet {
		body["memory_limit"] = j.memLimit
	}
	b, _ := json.Marshal(body)
	var ans struct {
		Status string   `json:"status"`
		Code   int32    `json:"code"`
		Score  *float64 `json:"score"`
		Time   float64  `json:"time"`
		Memory int64    `json:"memory"`
		Tests  []struct {
			Name, Group, Status, Feedback string
			Code                          int32
			Time                          float64
			Memory                        int64
		} `json:"tests"`
		CompileOutput string `json:"compile_output"`
	}
	if err := streamSubmission(client, base+"/v1/judge/submission", b, newProgressBar(os.Stderr), &ans); err != nil {
		return nil, err
	}
	res := &messages.ExecuteResponse{Status: ans.Status, Code: ans.Code, Time: ans.Time, MemoryKib: ans.Memory, CompileOutput: ans.CompileOutput}
	if ans.Score != nil {
		res.Score, res.HasScore = *ans.Score, true
	}
	lines := newTestPrinter(os.Stdout)
	for _, t := range ans.Tests {
		tr := &messages.TestResult{Name: t.Name, Group: t.Group, Status: t.Status, Code: t.Code, Time: t.Time, MemoryKib: t.Memory, Feedback: t.Feedback}
		res.Tests = append(res.Tests, tr)
		lines.print(tr)
	}
	return res, nil
}

// callJSON posts body and decodes a 2xx answer into out; any other
// answer is an error with the server's message.
func callJSON(c *http.Client, url, contentType string, body []byte, out any) error {
	resp, err := c.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("server answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, out)
}

// streamSubmission posts a submission asking for its progress as
// server-sent events: each "test" event moves bar, the "result" event is
// decoded into out, an "error" event is the error.
func streamSubmission(c *http.Client, url string, body []byte, bar *progressBar, out any) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return fmt.Errorf("server answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	defer bar.finish()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20) // the result event carries every test
	var name string
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			name = v
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		switch name {
		case "test":
			var p struct {
				Done  int `json:"tests_done"`
				Total int `json:"tests_total"`
			}
			if json.Unmarshal([]byte(data), &p) == nil {
				bar.show(p.Done, p.Total)
			}
		case "result":
			return json.Unmarshal([]byte(data), out)
		case "error":
			var e struct {
				Error  string `json:"error"`
				Status int    `json:"status"`
			}
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				return fmt.Errorf("server sent an unreadable error: %s", data)
			}
			return fmt.Errorf("server answered %d: %s", e.Status, e.Error)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read the server's events: %w", err)
	}
	return errors.New("the server ended the event stream without a result")
}

// progressBar draws how many tests have finished on one line.
type progressBar struct {
	w     io.Writer
	drawn bool
}

func newProgressBar(w io.Writer) *progressBar { return &progressBar{w: w} }

const progressWidth = 40

func (b *progressBar) show(done, total int) {
	if total <= 0 {
		return
	}
	n := min(done*progressWidth/total, progressWidth)
	fmt.Fprintf(b.w, "\r[%s%s] %d/%d tests", strings.Repeat("#", n), strings.Repeat(".", progressWidth-n), done, total)
	b.drawn = true
}

// finish ends the bar's line.
func (b *progressBar) finish() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

// testPrinter prints one line per test, as tests are decided.
type testPrinter struct {
	mu sync.Mutex
	w  io.Writer
}

func newTestPrinter(w io.Writer) *testPrinter { return &testPrinter{w: w} }

func (p *testPrinter) print(t *messages.TestResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	feedback, _, _ := strings.Cut(t.Feedback, "\n")
	fmt.Fprintf(p.w, "%-32s %-20s %7.3f s %9d KiB  %s\n", t.Name, t.Status, t.Time, t.MemoryKib, feedback)
}

// printSummary is the table after the tests: verdicts and their counts,
// the maxima, the score.
func printSummary(w io.Writer, res *messages.ExecuteResponse) {
	counts := map[string]int{}
	for _, t := range res.Tests {
		counts[t.Status]++
	}
	statuses := make([]string, 0, len(counts))
	for s := range counts {
		statuses = append(statuses, s)
	}
	sort.Strings(statuses)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nverdict\ttests")
	for _, s := range statuses {
		fmt.Fprintf(tw, "%s\t%d\n", s, counts[s])
	}
	fmt.Fprintf(tw, "\nsubmission\t%s\n", res.Status)
	if res.HasScore {
		fmt.Fprintf(tw, "score\t%g\n", res.Score)
	}
	fmt.Fprintf(tw, "max time\t%.3f s\nmax memory\t%d KiB\n", res.Time, res.MemoryKib)
	tw.Flush()
	if res.Status == "CompileError" && res.CompileOutput != "" {
		fmt.Fprintf(w, "\n%s\n", res.CompileOutput)
	}
}
