package cluster

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// squares is a problem of n tests: input k, answer k².
func squares(n int) testserver.Package {
	p := testserver.Package{"problem.yaml": "name: Squares\n", ".timelimit": "2\n"}
	for k := 1; k <= n; k++ {
		p[fmt.Sprintf("data/secret/%02d.in", k)] = fmt.Sprintf("%d\n", k)
		p[fmt.Sprintf("data/secret/%02d.ans", k)] = fmt.Sprintf("%d\n", k*k)
	}
	return p
}

// squarer takes 0.3 s of wall time a test and almost no CPU.
const squarer = "import time\nk = int(input())\ntime.sleep(0.3)\nprint(k * k)\n"

// judgeSquares judges squarer against the problem on base and checks
// that every one of its 30 tests is Accepted; it counts the tests each
// node ran (nil when the submission failed). It may run on a goroutine
// of its own: it fails t with Errorf only.
func judgeSquares(t *testing.T, base, id string) map[string]int {
	t.Helper()
	c := &http.Client{Timeout: 3 * time.Minute}
	r, err := testserver.JudgeSubmission(c, base, testserver.Submission{Language: "python", Code: squarer, Problem: id, Mode: "all"})
	if err != nil {
		t.Error(err)
		return nil
	}
	if r.Code != testserver.Accepted || len(r.Tests) != 30 {
		t.Errorf("submission: %s, want Accepted over 30 tests", r)
		return nil
	}
	ran := map[string]int{}
	for i, tr := range r.Tests {
		if tr.Status != "Accepted" {
			t.Errorf("test %d: %+v", i+1, tr)
		}
		ran[tr.Node]++
	}
	return ran
}

// TestSubmissionAcrossMembers uploads a 30-test problem to node1 only and
// judges a submission there: its tests run on all three members, which
// fetch the problem and the program from node1. Then a member is killed
// while it runs tests of another judgement of it, and every test is
// still answered.
func TestSubmissionAcrossMembers(t *testing.T) {
	needServer(t)
	base := nodes[0].srv.URL()
	waitMembers(t, base, addrs(nodes), time.Minute)
	archive, err := squares(30).Zip("")
	if err != nil {
		t.Fatal(err)
	}
	status, sum, body, err := testserver.UploadProblem(client, base, archive, "application/zip")
	if err != nil || status != http.StatusCreated {
		t.Fatalf("upload: HTTP %d %s %v", status, body, err)
	}

	ran := judgeSquares(t, base, sum.ID)
	if ran == nil {
		t.FailNow()
	}
	t.Logf("tests per node: %v", ran)
	for _, n := range nodes {
		if ran[n.bind] == 0 {
			t.Errorf("no test ran on %s (%s): %v", n.name, n.bind, ran)
		}
	}
	for _, n := range nodes[1:] {
		s, err := getStatus(n.srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		if s.FetchedBytes == 0 {
			t.Errorf("%s fetched nothing from node1, yet ran its tests", n.name)
		}
	}

	victim := nodes[2]
	done := make(chan map[string]int, 1)
	go func() { done <- judgeSquares(t, base, sum.ID) }()
	waitFor(t, time.Minute, victim.name+" running a test", func() (bool, string) {
		s, err := getStatus(victim.srv.URL())
		if err != nil {
			return false, err.Error()
		}
		return s.Running > 0, fmt.Sprintf("running %d", s.Running)
	})
	victim.srv.Kill()
	ran = <-done
	t.Logf("tests per node with %s killed: %v", victim.name, ran)

	// Back for the tests that follow.
	if err := victim.start(); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, base, addrs(nodes), 30*time.Second)
}
