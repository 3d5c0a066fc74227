package actors

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/pecan-judge/pecan/backends/fake"
	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/judge"
	"github.com/pecan-judge/pecan/messages"
)

// submissionRequest echoes stdin (the fake toolchain's "stdin" program)
// on tests whose answers are their inputs, except those in wrong.
func submissionRequest(lang, code, mode string, n int, wrong ...int) *messages.ExecuteRequest {
	req := request(lang, code, "")
	req.Submission = &messages.Submission{Mode: mode}
	for i := 1; i <= n; i++ {
		in := []byte{byte('a' + i)}
		ans := in
		if slices.Contains(wrong, i) {
			ans = []byte("x")
		}
		req.Submission.Tests = append(req.Submission.Tests, &messages.InlineTest{Stdin: in, Answer: ans})
	}
	return req
}

func runSubmission(t *testing.T, req *messages.ExecuteRequest, cfg JobConfig) (*messages.ExecuteResponse, *fake.Backend) {
	t.Helper()
	b := fake.New(program)
	sb, err := b.New(context.Background(), "t-0")
	if err != nil {
		t.Fatal(err)
	}
	lang, _ := testLanguages(t).Lookup(req.GetLanguage())
	cfg.Limits = config.Default().Limits
	resp, err := RunSubmission(context.Background(), sb, lang, req, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func verdicts(resp *messages.ExecuteResponse) []string {
	var out []string
	for _, t := range resp.Tests {
		out = append(out, t.Status)
	}
	return out
}

func TestRunSubmissionCompilesOnceAndRunsEachTestFresh(t *testing.T) {
	compiles := map[string]*atomic.Int64{"c": {}}
	var heard []string
	cfg := JobConfig{compiles: compiles, OnTestResult: func(_ string, tr *messages.TestResult) { heard = append(heard, tr.Name) }}
	resp, b := runSubmission(t, submissionRequest("c", "stdin", judge.ModeFirstFailure, 5), cfg)
	if judge.Verdict(resp.Code) != judge.Accepted || !resp.Submission || len(resp.Tests) != 5 {
		t.Fatalf("answer %+v", resp)
	}
	if n := compiles["c"].Load(); n != 1 {
		t.Errorf("%d compiles, want 1", n)
	}
	c := b.Counts()
	if c.Run != 6 || c.Reset != 5 {
		t.Errorf("runs %d resets %d, want the compile and 5 tests, each after a reset", c.Run, c.Reset)
	}
	if !slices.Equal(heard, []string{"1", "2", "3", "4", "5"}) {
		t.Errorf("OnTestResult heard %v", heard)
	}
}

func TestRunSubmissionModes(t *testing.T) {
	resp, _ := runSubmission(t, submissionRequest("py", "stdin", judge.ModeFirstFailure, 4, 2), JobConfig{})
	if want := []string{"Accepted", "WrongAnswer", "Skipped", "Skipped"}; judge.Verdict(resp.Code) != judge.WrongAnswer || !slices.Equal(verdicts(resp), want) {
		t.Errorf("first-failure: %v %v, want WrongAnswer %v", resp.Status, verdicts(resp), want)
	}
	resp, _ = runSubmission(t, submissionRequest("py", "stdin", judge.ModeAll, 4, 2, 4), JobConfig{})
	if want := []string{"Accepted", "WrongAnswer", "Accepted", "WrongAnswer"}; judge.Verdict(resp.Code) != judge.WrongAnswer || !slices.Equal(verdicts(resp), want) {
		t.Errorf("all: %v %v, want WrongAnswer %v", resp.Status, verdicts(resp), want)
	}
	resp, _ = runSubmission(t, submissionRequest("c", "error", judge.ModeAll, 3), JobConfig{})
	if want := []string{"Skipped", "Skipped", "Skipped"}; judge.Verdict(resp.Code) != judge.CompileError || resp.CompileOutput == "" || !slices.Equal(verdicts(resp), want) {
		t.Errorf("compile error: %v %q %v", resp.Status, resp.CompileOutput, verdicts(resp))
	}
}
