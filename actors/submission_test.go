package actors

import (
	"context"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/fake"
	"github.com/pecan-judge/pecan/blob"
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
		in := []byte{byte('a' + i%26), byte('a' + i/26)}
		ans := in
		if slices.Contains(wrong, i) {
			ans = []byte("x")
		}
		req.Submission.Tests = append(req.Submission.Tests, &messages.InlineTest{Stdin: in, Answer: ans})
	}
	return req
}

// submissionPool is a pool of size sandboxes with a compile cache, at
// most parallel tests of a submission at once.
func submissionPool(t *testing.T, size, parallel int, run fake.RunFunc, heard func(*messages.TestResult)) (*Pool, *fake.Backend) {
	t.Helper()
	cache, err := blob.OpenCache(t.TempDir(), 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	b := fake.New(run)
	opts := Options{
		PoolSize: size, QueueLength: 16, Backend: b, Languages: testLanguages(t),
		Limits: config.Default().Limits, Node: "node-1", Logger: testLogger(),
		Artifacts: cache, MaxParallelTests: parallel,
	}
	if heard != nil {
		opts.OnTestResult = func(_ string, tr *messages.TestResult) { heard(tr) }
	}
	return startPoolWith(t, opts), b
}

func verdicts(resp *messages.ExecuteResponse) []string {
	var out []string
	for _, t := range resp.Tests {
		out = append(out, t.Status)
	}
	return out
}

func TestSubmissionCompilesOnceAndRunsEachTestFresh(t *testing.T) {
	var mu sync.Mutex
	var heard []string
	p, b := submissionPool(t, 2, 2, program, func(tr *messages.TestResult) {
		mu.Lock()
		defer mu.Unlock()
		heard = append(heard, tr.Name)
	})
	req := submissionRequest("c", "stdin", judge.ModeFirstFailure, 5)
	resp := execute(t, p, req)
	if judge.Verdict(resp.Code) != judge.Accepted || !resp.Submission || len(resp.Tests) != 5 {
		t.Fatalf("answer %+v", resp)
	}
	for i, tr := range resp.Tests {
		if want := string(rune('1' + i)); tr.Name != want {
			t.Errorf("test %d named %q, want %q (in order)", i, tr.Name, want)
		}
	}
	if n := p.Compiles()["c"]; n != 1 {
		t.Errorf("%d compiles, want 1", n)
	}
	// Each test ran in a sandbox of its own, reset after it.
	eventually(t, "the sandboxes reset after the steps", func() bool { c := b.Counts(); return c.Run == 6 && c.Reset >= 6 })
	mu.Lock()
	sort.Strings(heard)
	mu.Unlock()
	if !slices.Equal(heard, []string{"1", "2", "3", "4", "5"}) {
		t.Errorf("OnTestResult heard %v", heard)
	}

	// The same submission again: its program comes from the cache.
	req.RequestId = "again"
	if resp := execute(t, p, req); judge.Verdict(resp.Code) != judge.Accepted {
		t.Fatalf("judged again: %+v", resp)
	}
	if n := p.Compiles()["c"]; n != 1 {
		t.Errorf("%d compiles after judging it again, want 1", n)
	}
}

func TestSubmissionModes(t *testing.T) {
	for _, parallel := range []int{1, 2} {
		p, _ := submissionPool(t, 2, parallel, program, nil)
		resp := execute(t, p, submissionRequest("py", "stdin", judge.ModeFirstFailure, 4, 2))
		if want := []string{"Accepted", "WrongAnswer", "Skipped", "Skipped"}; judge.Verdict(resp.Code) != judge.WrongAnswer || !slices.Equal(verdicts(resp), want) {
			t.Errorf("parallel %d, first-failure: %v %v, want WrongAnswer %v", parallel, resp.Status, verdicts(resp), want)
		}
		resp = execute(t, p, submissionRequest("py", "stdin", judge.ModeAll, 4, 2, 4))
		if want := []string{"Accepted", "WrongAnswer", "Accepted", "WrongAnswer"}; judge.Verdict(resp.Code) != judge.WrongAnswer || !slices.Equal(verdicts(resp), want) {
			t.Errorf("parallel %d, all: %v %v, want WrongAnswer %v", parallel, resp.Status, verdicts(resp), want)
		}
		resp = execute(t, p, submissionRequest("c", "error", judge.ModeAll, 3))
		if want := []string{"Skipped", "Skipped", "Skipped"}; judge.Verdict(resp.Code) != judge.CompileError || resp.CompileOutput == "" || !slices.Equal(verdicts(resp), want) {
			t.Errorf("parallel %d, compile error: %v %q %v", parallel, resp.Status, resp.CompileOutput, verdicts(resp))
		}
	}
}

// TestSubmissionParallelIsSequential: 40 tests judged with parallelism 1
// and 3 on a pool of 3 give the same per-test verdicts.
func TestSubmissionParallelIsSequential(t *testing.T) {
	var got [][]string
	for _, parallel := range []int{1, 3} {
		p, _ := submissionPool(t, 3, parallel, program, nil)
		for _, mode := range []string{judge.ModeAll, judge.ModeFirstFailure} {
			resp := execute(t, p, submissionRequest("c", "stdin", mode, 40, 7, 13, 31))
			got = append(got, verdicts(resp))
		}
	}
	if !slices.Equal(got[0], got[2]) || !slices.Equal(got[1], got[3]) {
		t.Errorf("parallelism 1 and 3 disagree:\n%v\n%v\n%v\n%v", got[0], got[2], got[1], got[3])
	}
	if got[1][6] != "WrongAnswer" || got[1][7] != "Skipped" || got[0][30] != "WrongAnswer" {
		t.Errorf("verdicts %v / %v", got[0], got[1])
	}
}

// TestSubmissionFirstFailureCancels: with two tests at once, the first
// fails at once while the second would run until cancelled; the answer
// comes without waiting for it, and its sandbox is reset and idle again.
func TestSubmissionFirstFailureCancels(t *testing.T) {
	blocked := make(chan struct{}, 8)
	run := func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		if spec.Args[0] == "./main" && string(spec.Stdin) != "ba" && string(spec.Stdin) != "ca" {
			// Every test but the first two runs until it is cancelled.
			blocked <- struct{}{}
			<-ctx.Done()
			return backends.RunResult{}, ctx.Err()
		}
		return program(ctx, sb, spec, files)
	}
	p, _ := submissionPool(t, 2, 2, run, nil)
	// Test 1 fails at once; test 2 passes; 3 blocks.
	req := submissionRequest("c", "stdin", judge.ModeFirstFailure, 6, 1)
	resp := execute(t, p, req)
	if want := []string{"WrongAnswer", "Skipped", "Skipped", "Skipped", "Skipped", "Skipped"}; !slices.Equal(verdicts(resp), want) {
		t.Errorf("verdicts %v, want %v", verdicts(resp), want)
	}
	eventually(t, "both sandboxes idle again", func() bool {
		s, err := p.Status(context.Background())
		return err == nil && s.Idle == 2 && s.TestsInFlight == 0 && s.SubmissionsRunning == 0
	})
}

// TestSubmissionsShareThePool: a submission of 40 slow tests takes both
// sandboxes; one of two tests sent just after it is not kept waiting
// for all 40, since each finished test of the first goes to the back of
// the queue.
func TestSubmissionsShareThePool(t *testing.T) {
	run := func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		if spec.Args[0] == "./main" {
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return backends.RunResult{}, ctx.Err()
			}
		}
		return program(ctx, sb, spec, files)
	}
	p, _ := submissionPool(t, 2, 2, run, nil)
	big := submissionRequest("c", "stdin", judge.ModeAll, 40)
	big.RequestId = "big"
	small := submissionRequest("c", "stdin", judge.ModeAll, 2)
	small.RequestId = "small"
	order := make(chan string, 2)
	for _, req := range []*messages.ExecuteRequest{big, small} {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if resp, err := p.Execute(ctx, req); err != nil || judge.Verdict(resp.Code) != judge.Accepted {
				t.Errorf("%s: %+v %v", req.RequestId, resp, err)
			}
			order <- req.RequestId
		}()
		if req == big {
			eventually(t, "the big submission running", func() bool {
				s, err := p.Status(context.Background())
				return err == nil && s.TestsInFlight == 2
			})
		}
	}
	if first := <-order; first != "small" {
		t.Errorf("%s answered first: the small submission waited for the big one", first)
	}
	<-order
}
