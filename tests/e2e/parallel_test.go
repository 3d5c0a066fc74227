package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// squaresPackage is a problem of n tests: input k, answer k².
func squaresPackage(n int) testserver.Package {
	p := testserver.Package{"problem.yaml": "name: Squares\n", ".timelimit": "1\n"}
	for k := 1; k <= n; k++ {
		p[fmt.Sprintf("data/secret/%02d.in", k)] = fmt.Sprintf("%d\n", k)
		p[fmt.Sprintf("data/secret/%02d.ans", k)] = fmt.Sprintf("%d\n", k*k)
	}
	return p
}

// squares is right on most tests and wrong in its own way on some: a
// wrong answer when k%9 == 4, a runtime error at 17, a time limit at 25.
const squares = `#include <cstdio>
#include <cstdlib>
int main() {
	long k; if (scanf("%ld", &k) != 1) return 2;
	if (k == 17) return 3;
	if (k == 25) { volatile unsigned long x = 0; for (;;) x++; }
	printf("%ld\n", k % 9 == 4 ? k * k + 1 : k * k);
}
`

// sequentialServer starts a server like the shared one (a pool of two)
// that runs a submission's tests one after another.
func sequentialServer(t *testing.T) *testserver.Server {
	t.Helper()
	conf, err := os.ReadFile(filepath.Join(suite.Repo, "pecan.toml"))
	if err != nil {
		t.Fatal(err)
	}
	seq := strings.Replace(string(conf), "max_parallel_tests = 0", "max_parallel_tests = 1", 1)
	if seq == string(conf) {
		t.Fatal("pecan.toml has no max_parallel_tests = 0 to change")
	}
	path := filepath.Join(suite.Tmp, "sequential.toml")
	if err := os.WriteFile(path, []byte(seq), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, err := testserver.CopyBinary(suite.Bin, filepath.Join(suite.Tmp, "sequential"))
	if err != nil {
		t.Fatal(err)
	}
	rootsBefore := testserver.TmpRoots()
	srv, err := testserver.StartHealthy(suite.Options(bin, path, 2, "sequential"), startupTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(promptShutdown); err != nil {
			t.Errorf("sequential server: %v", err)
		}
		for _, l := range srv.Leftovers(rootsBefore) {
			t.Errorf("sequential server left behind: %s", l)
		}
		if t.Failed() {
			t.Log(srv.LogTail(60))
		}
	})
	return srv
}

// TestParallelTestsMatchSequential judges a 40-test problem on a pool of
// two with its tests one after another and two at once: the per-test
// verdicts are the same, in both modes.
func TestParallelTestsMatchSequential(t *testing.T) {
	start(t)
	seq := sequentialServer(t)
	archive, err := squaresPackage(40).Zip("")
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, base := range []string{baseURL, seq.URL()} {
		status, sum, body, err := testserver.UploadProblem(client, base, archive, "application/zip")
		if err != nil || (status != http.StatusCreated && status != http.StatusOK) {
			t.Fatalf("upload to %s: HTTP %d %s %v", base, status, body, err)
		}
		id = sum.ID
	}
	t.Cleanup(func() {
		if status, body := request(t, http.MethodDelete, "/v1/problems/"+id); status != http.StatusNoContent {
			t.Errorf("delete %s: HTTP %d %s", id, status, body)
		}
	})
	for _, mode := range []string{"all", "first-failure"} {
		var got [2][]string
		for i, base := range []string{seq.URL(), baseURL} {
			inFlight <- struct{}{}
			r, err := testserver.JudgeSubmission(client, base, testserver.Submission{Language: "cpp", Code: squares, Problem: id, Mode: mode})
			<-inFlight
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Tests) != 40 {
				t.Fatalf("%s, mode %s: %s", base, mode, r)
			}
			got[i] = r.Verdicts()
		}
		if !slices.Equal(got[0], got[1]) {
			t.Errorf("mode %s: one after another %v\ntwo at once %v", mode, got[0], got[1])
		}
		want := map[int]string{4: "WrongAnswer", 13: "WrongAnswer", 17: "RuntimeError", 22: "WrongAnswer", 25: "TimeLimitExceeded"}
		for k, v := range want {
			if mode == "all" && got[1][k-1] != v {
				t.Errorf("mode all, test %d: %s, want %s", k, got[1][k-1], v)
			}
		}
		if mode == "first-failure" && (got[1][3] != "WrongAnswer" || got[1][4] != "Skipped" || got[1][39] != "Skipped") {
			t.Errorf("first-failure: %v, want WrongAnswer at 4 and Skipped after", got[1])
		}
	}
}

// TestFirstFailureDoesNotWait: the first test fails at once while the
// second, two at once on a pool of two, would sleep for 50 seconds; the
// answer comes long before, and the sleeping test's sandbox is free
// again at once.
func TestFirstFailureDoesNotWait(t *testing.T) {
	start(t)
	const c = `#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
	char w[16] = ""; scanf("%15s", w);
	if (strcmp(w, "sleep") == 0) sleep(50);
	puts(w);
	return 0;
}
`
	tests := []testserver.InlineTest{{Stdin: "fail", Answer: "other"}}
	for range 5 {
		tests = append(tests, testserver.InlineTest{Stdin: "sleep", Answer: "sleep"})
	}
	began := time.Now()
	r := judgeSubmission(t, testserver.Submission{Language: "c", Code: c, Tests: tests, TimeLimit: 1, WallLimit: 60})
	took := time.Since(began)
	if want := []string{"WrongAnswer", "Skipped", "Skipped", "Skipped", "Skipped", "Skipped"}; r.Code != testserver.WrongAnswer || !slices.Equal(r.Verdicts(), want) {
		t.Fatalf("%s, want WrongAnswer with %v", r, want)
	}
	// 50 s would mean it waited for the sleeping test; 20 s leaves the
	// loaded machine all the room it needs otherwise.
	if took > 20*time.Second {
		t.Errorf("the answer took %v: it waited for a test first-failure mode no longer needed", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		st, err := testserver.GetStatus(client, baseURL)
		if err == nil && st.TestsInFlight == 0 && st.SubmissionsRunning == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("tests still in flight after the answer: %+v %v", st, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
