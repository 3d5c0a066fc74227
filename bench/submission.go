package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/tests/testserver"
)

// submissionTests is how many tests the submission benchmark judges.
const submissionTests = 50

// subResult is one submission benchmark: the API's median next to one
// bare compile plus every test run bare.
type subResult struct {
	lang      string
	tests     int
	runs      int
	api, bare time.Duration
}

// benchSubmission alternates an n-test A+B submission through
// /v1/judge/submission with the same compile and n runs on the host.
func benchSubmission(url string, l *languages.Language, src string, runs int) (subResult, error) {
	var tests []testserver.InlineTest
	for i := range submissionTests {
		tests = append(tests, testserver.InlineTest{Stdin: fmt.Sprintf("%d %d\n", i, i+1), Answer: fmt.Sprintf("%d\n", 2*i+1)})
	}
	client := &http.Client{Timeout: 5 * time.Minute}
	round := 0
	viaAPI := func() (time.Duration, error) {
		// A source of its own each time: the compile cache would skip the
		// compile the bare side does every time.
		round++
		code := fmt.Sprintf("%s\n%s %d %d\n", src, lineComment(l.ID), time.Now().UnixNano(), round)
		start := time.Now()
		r, err := testserver.JudgeSubmission(client, url, testserver.Submission{Language: l.ID, Code: code, Tests: tests})
		if err == nil && r.Status != "Accepted" {
			err = fmt.Errorf("API judged the submission %s", r)
		}
		return time.Since(start), err
	}
	onHost := func() (time.Duration, error) { return bareSubmission(l, src, tests) }
	// One untimed round of each warms caches on both sides.
	if _, err := viaAPI(); err != nil {
		return subResult{}, err
	}
	if _, err := onHost(); err != nil {
		return subResult{}, err
	}
	var api, host []time.Duration
	for range runs {
		a, err := viaAPI()
		if err != nil {
			return subResult{}, err
		}
		b, err := onHost()
		if err != nil {
			return subResult{}, err
		}
		api, host = append(api, a), append(host, b)
	}
	return subResult{lang: l.ID, tests: len(tests), runs: runs, api: median(api), bare: median(host)}, nil
}

// lineComment starts a comment to the end of the line in language id.
func lineComment(id string) string {
	if id == "python" {
		return "#"
	}
	return "//"
}

// bareSubmission compiles src once in a temporary directory and runs it
// on every test, checking each answer.
func bareSubmission(l *languages.Language, src string, tests []testserver.InlineTest) (time.Duration, error) {
	dir, vars, err := bareSource(l, src)
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	if l.Compiled() {
		if _, err := execIn(dir, l.Env, l.Expand(l.Compile, vars), ""); err != nil {
			return 0, fmt.Errorf("bare compile: %w", err)
		}
	}
	for _, t := range tests {
		out, err := execIn(dir, l.Env, l.Expand(l.Run, vars), t.Stdin)
		if err != nil {
			return 0, fmt.Errorf("bare run: %w", err)
		}
		if strings.TrimSpace(out) != strings.TrimSpace(t.Answer) {
			return 0, fmt.Errorf("bare run printed %q, want %q", out, t.Answer)
		}
	}
	return time.Since(start), nil
}

func submissionTable(rs []subResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s (`make bench`).\n\n", machine())
	b.WriteString("| language | tests | runs | API median (ms) | bare median (ms) | ratio |\n|---|---|---|---|---|---|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %d | %d | %.1f | %.1f | %.3f |\n", r.lang, r.tests, r.runs, ms(r.api), ms(r.bare), float64(r.api)/float64(r.bare))
	}
	return b.String()
}
