package main

import (
	"sync"

	"github.com/pecan-judge/pecan/messages"
)

// Bounds of testProgress: it is memory only, and what it holds is also
// in the final answer, so forgetting is cheap.
const (
	maxProgressJobs  = 10000
	maxProgressTests = 100000
)

// testProgress keeps, for the async submissions this server accepted, the
// tests decided so far, so that GET /v1/judge/result shows a running
// submission's tests as they come. It hears of tests judged on this node
// only (the pool's OnTestResult); a job handed to a cluster member shows
// its tests when done. The oldest jobs are forgotten first past the
// bounds, and a job once its done result was read.
type testProgress struct {
	mu    sync.Mutex
	jobs  map[string][]*messages.TestResult
	order []string // watched ids, oldest first
	tests int
}

func newTestProgress() *testProgress {
	return &testProgress{jobs: map[string][]*messages.TestResult{}}
}

// watch starts keeping the tests of request id.
func (p *testProgress) watch(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.jobs[id]; ok {
		return
	}
	p.jobs[id] = nil
	p.order = append(p.order, id)
	p.evict()
}

// add is the pool's OnTestResult. A test decided again (the job was
// retried on another sandbox) replaces its earlier result.
func (p *testProgress) add(id string, t *messages.TestResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	list, ok := p.jobs[id]
	if !ok {
		return // a synchronous submission, or a forgotten job
	}
	for i, old := range list {
		if old.GetName() == t.GetName() {
			list[i] = t
			return
		}
	}
	p.jobs[id] = append(list, t)
	p.tests++
	p.evict()
}

// decided is a copy of the tests of id decided so far.
func (p *testProgress) decided(id string) []*messages.TestResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*messages.TestResult(nil), p.jobs[id]...)
}

// forget drops id.
func (p *testProgress) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.jobs[id]; !ok {
		return
	}
	p.tests -= len(p.jobs[id])
	delete(p.jobs, id)
	for i, o := range p.order {
		if o == id {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
}

// evict forgets the oldest jobs while a bound is passed; p.mu is held.
func (p *testProgress) evict() {
	for len(p.order) > 0 && (len(p.order) > maxProgressJobs || p.tests > maxProgressTests) {
		oldest := p.order[0]
		p.order = p.order[1:]
		p.tests -= len(p.jobs[oldest])
		delete(p.jobs, oldest)
	}
}
