package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/async"
	pecanhttp "github.com/pecan-judge/pecan/http"
	"github.com/pecan-judge/pecan/messages"
)

func names(ts []*messages.TestResult) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.GetName()+"="+t.GetStatus())
	}
	return out
}

func TestTestProgress(t *testing.T) {
	p := newTestProgress()
	p.add("sync", &messages.TestResult{Name: "1"}) // never watched: not kept
	if got := p.decided("sync"); len(got) != 0 {
		t.Errorf("an unwatched job kept %v", names(got))
	}
	p.watch("a")
	p.add("a", &messages.TestResult{Name: "1", Status: "Accepted"})
	p.add("a", &messages.TestResult{Name: "2", Status: "WrongAnswer"})
	p.add("a", &messages.TestResult{Name: "1", Status: "TimeLimitExceeded"}) // retried elsewhere
	if got := fmt.Sprint(names(p.decided("a"))); got != "[1=TimeLimitExceeded 2=WrongAnswer]" {
		t.Errorf("decided %s", got)
	}
	p.forget("a")
	if got := p.decided("a"); len(got) != 0 || p.tests != 0 || len(p.order) != 0 {
		t.Errorf("after forget: %v, %d tests, order %v", names(got), p.tests, p.order)
	}
}

func TestTestProgressBounded(t *testing.T) {
	p := newTestProgress()
	for i := 0; i < maxProgressJobs+5; i++ {
		p.watch(fmt.Sprint(i))
	}
	if len(p.jobs) != maxProgressJobs || len(p.order) != maxProgressJobs {
		t.Errorf("%d jobs kept, want %d", len(p.jobs), maxProgressJobs)
	}
	if _, ok := p.jobs["0"]; ok {
		t.Error("the oldest job was kept")
	}
	q := newTestProgress()
	q.watch("old")
	q.watch("new")
	for i := 0; i < maxProgressTests; i++ {
		q.add("old", &messages.TestResult{Name: fmt.Sprint(i)})
	}
	q.add("new", &messages.TestResult{Name: "1"})
	if _, ok := q.jobs["old"]; ok || q.tests != 1 {
		t.Errorf("past the test bound the oldest job stays (%d tests kept)", q.tests)
	}
}

// TestAsyncResultShowsProgress: a queued or running submission's result
// carries the tests decided so far; a done one forgets them.
func TestAsyncResultShowsProgress(t *testing.T) {
	m, err := async.Open(async.Options{StorePath: filepath.Join(t.TempDir(), "a.db"), Workers: 1, QueueLength: 10, Render: pecanhttp.RenderResult})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.Stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	a := asyncAPI{m: m, progress: newTestProgress()}
	ctx := context.Background()
	req := &messages.ExecuteRequest{RequestId: "sub-1", Language: "python", Submission: &messages.Submission{ProblemId: "sha256:x"}}
	id, err := a.Submit(ctx, pecanhttp.AsyncJob{Request: req, Budget: time.Second}, "")
	if err != nil {
		t.Fatal(err)
	}
	a.progress.add(id, &messages.TestResult{Name: "sample/1", Status: "Accepted"})
	r, err := a.Result(ctx, id)
	if err != nil || len(r.Progress) != 1 || r.Progress[0].GetName() != "sample/1" {
		t.Fatalf("result %+v %v, want the decided test", r, err)
	}
	single := &messages.ExecuteRequest{RequestId: "single-1", Language: "python"}
	if id, err = a.Submit(ctx, pecanhttp.AsyncJob{Request: single, Budget: time.Second}, ""); err != nil {
		t.Fatal(err)
	}
	if _, watched := a.progress.jobs[id]; watched {
		t.Error("a judge-single job is watched for tests")
	}
}
