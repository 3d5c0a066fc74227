package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// abTests are n A+B tests; the answer of test wrong (1-based, 0: none)
// is off by one.
func abTests(n, wrong int) []testserver.InlineTest {
	var out []testserver.InlineTest
	for i := 1; i <= n; i++ {
		ans := 2*i + 1
		if i == wrong {
			ans++
		}
		out = append(out, testserver.InlineTest{Name: fmt.Sprintf("t%02d", i), Stdin: fmt.Sprintf("%d %d\n", i, i+1), Answer: fmt.Sprintf("%d\n", ans)})
	}
	return out
}

const cppAB = `#include <iostream>
int main() { long a, b; std::cin >> a >> b; std::cout << a + b << "\n"; }
`

func judgeSubmission(t *testing.T, sub testserver.Submission) *testserver.SubmissionResult {
	t.Helper()
	inFlight <- struct{}{}
	defer func() { <-inFlight }()
	r, err := testserver.JudgeSubmission(client, baseURL, sub)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func compiles(t *testing.T, lang string) int {
	t.Helper()
	n, err := testserver.Compiles(client, baseURL, lang)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSubmissionCompilesOnce judges a 50-test C++ submission: one compile
// (the metric says so), every test Accepted, in order. It is not parallel:
// Go runs it before the parallel tests, so no other compile is counted.
func TestSubmissionCompilesOnce(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	before := compiles(t, "cpp")
	r := judgeSubmission(t, testserver.Submission{Language: "cpp", Code: cppAB, Tests: abTests(50, 0)})
	if r.Code != testserver.Accepted || len(r.Tests) != 50 {
		t.Fatalf("50 A+B tests: %s", r)
	}
	for i, tr := range r.Tests {
		if want := fmt.Sprintf("t%02d", i+1); tr.Name != want || tr.Code != testserver.Accepted || tr.Memory <= 0 {
			t.Errorf("test %d: %+v, want %s Accepted with its memory", i, tr, want)
		}
	}
	if after := compiles(t, "cpp"); after != before+1 {
		t.Errorf("pecan_compiles_total{cpp} went %d -> %d for one submission, want one compile", before, after)
	}
}

// TestRejudgeCompilesOnce judges one C++ submission, then judges it
// again 19 times (a rejudge): the compile cache serves the program it
// compiled the first time. Like TestSubmissionCompilesOnce it is not
// parallel, so no other compile is counted.
func TestRejudgeCompilesOnce(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	// A source no earlier run of the suite compiled: the server's stores
	// are its own, but the test must not depend on that.
	code := fmt.Sprintf("// rejudge %d\n%s", time.Now().UnixNano(), cppAB)
	before := compiles(t, "cpp")
	for i := range 20 {
		r := judgeSubmission(t, testserver.Submission{Language: "cpp", Code: code, Tests: abTests(3, 2), Mode: "all"})
		if want := []string{"Accepted", "WrongAnswer", "Accepted"}; r.Code != testserver.WrongAnswer || !slices.Equal(r.Verdicts(), want) {
			t.Fatalf("judgement %d: %s, want WrongAnswer with %v", i+1, r, want)
		}
	}
	if after := compiles(t, "cpp"); after != before+1 {
		t.Errorf("pecan_compiles_total{cpp} went %d -> %d for 20 judgements of one submission, want one compile", before, after)
	}
}

func TestSubmissionModesAndVerdicts(t *testing.T) {
	start(t)
	r := judgeSubmission(t, testserver.Submission{Language: "cpp", Code: cppAB, Tests: abTests(5, 3)})
	want := []string{"Accepted", "Accepted", "WrongAnswer", "Skipped", "Skipped"}
	if r.Code != testserver.WrongAnswer || !slices.Equal(r.Verdicts(), want) {
		t.Errorf("first-failure: %s, want WrongAnswer with %v", r, want)
	}
	r = judgeSubmission(t, testserver.Submission{Language: "cpp", Code: cppAB, Tests: abTests(5, 3), Mode: "all"})
	want = []string{"Accepted", "Accepted", "WrongAnswer", "Accepted", "Accepted"}
	if r.Code != testserver.WrongAnswer || !slices.Equal(r.Verdicts(), want) {
		t.Errorf("all: %s, want WrongAnswer with %v", r, want)
	}

	// Verdicts per test from the program's behaviour on each input.
	py := `import sys, time
n = int(sys.stdin.read())
if n == 2: time.sleep(5)
if n == 3: sys.exit(3)
print(n * n)
`
	tests := []testserver.InlineTest{{Stdin: "1", Answer: "1"}, {Stdin: "2", Answer: "4"}, {Stdin: "3", Answer: "9"}, {Stdin: "4", Answer: "16"}}
	r = judgeSubmission(t, testserver.Submission{Language: "python", Code: py, Tests: tests, Mode: "all", TimeLimit: 1})
	want = []string{"Accepted", "TimeLimitExceeded", "RuntimeError", "Accepted"}
	if r.Code != testserver.TimeLimitExceeded || !slices.Equal(r.Verdicts(), want) || r.Tests[0].Name != "1" {
		t.Errorf("python per-test verdicts: %s, want %v with tests named 1..4", r, want)
	}

	r = judgeSubmission(t, testserver.Submission{Language: "c", Code: "int main( {", Tests: abTests(3, 0)})
	if r.Code != testserver.CompileError || r.CompileOutput == "" || !slices.Equal(r.Verdicts(), []string{"Skipped", "Skipped", "Skipped"}) {
		t.Errorf("compile error: %s", r)
	}
}

// TestSubmissionTestsAreFresh: each test sees the compiled program and
// its input, nothing an earlier test left.
func TestSubmissionTestsAreFresh(t *testing.T) {
	start(t)
	c := strings.ReplaceAll(`#include <stdio.h>
#include <unistd.h>
int main(void) {
	int stale = access("/tmp/mark", F_OK) == 0 || access("WORKDIR/mark", F_OK) == 0;
	fclose(fopen("/tmp/mark", "w"));
	FILE *f = fopen("WORKDIR/mark", "w");
	if (f) fclose(f);
	printf("%s %d\n", stale ? "stale" : "fresh", access("WORKDIR/main", X_OK) == 0);
	return 0;
}
`, "WORKDIR", testserver.WorkDir(testserver.Backend()))
	var tests []testserver.InlineTest
	for range 3 {
		tests = append(tests, testserver.InlineTest{Answer: "fresh 1\n"})
	}
	r := judgeSubmission(t, testserver.Submission{Language: "c", Code: c, Tests: tests, Checker: "exact"})
	if r.Code != testserver.Accepted {
		t.Errorf("a test saw an earlier one's files: %s", r)
	}
}

func TestSubmissionAsync(t *testing.T) {
	start(t)
	body, _ := json.Marshal(map[string]any{"language": "cpp", "code": cppAB, "tests": abTests(4, 2), "mode": "all"})
	status, b := post(t, "/v1/judge/submission-async", "application/json", body)
	var acc struct {
		RequestID string `json:"request_id"`
	}
	if status != http.StatusOK || json.Unmarshal(b, &acc) != nil || acc.RequestID == "" {
		t.Fatalf("submission-async: HTTP %d %s", status, b)
	}
	var r testserver.SubmissionResult
	if err := json.Unmarshal(waitAsync(t, baseURL, acc.RequestID, 2*time.Minute), &r); err != nil {
		t.Fatal(err)
	}
	want := []string{"Accepted", "WrongAnswer", "Accepted", "Accepted"}
	if r.Code != testserver.WrongAnswer || !slices.Equal(r.Verdicts(), want) {
		t.Errorf("async submission: %s, want %v", &r, want)
	}
}

func TestSubmissionBadRequests(t *testing.T) {
	start(t)
	for name, body := range map[string]string{
		"no tests":        `{"language":"c","code":"int main(){}"}`,
		"empty tests":     `{"language":"c","code":"int main(){}","tests":[]}`,
		"tests not list":  `{"language":"c","code":"int main(){}","tests":{}}`,
		"bad mode":        `{"language":"c","code":"int main(){}","tests":[{"stdin":"","answer":""}],"mode":"some"}`,
		"duplicate names": `{"language":"c","code":"int main(){}","tests":[{"name":"a"},{"name":"a"}]}`,
		"stdin not text":  `{"language":"c","code":"int main(){}","tests":[{"stdin":1}]}`,
		"no language":     `{"code":"int main(){}","tests":[{"stdin":""}]}`,
	} {
		status, b := post(t, "/v1/judge/submission", "application/json", []byte(body))
		var e struct {
			Error string `json:"error"`
		}
		if status != http.StatusBadRequest || json.Unmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("%s: HTTP %d %s, want 400 with an error", name, status, b)
		} else if strings.Contains(e.Error, "internal") {
			t.Errorf("%s: %q", name, e.Error)
		}
	}
}
