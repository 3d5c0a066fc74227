package actors

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/pecan-judge/pecan/blob"
	"github.com/pecan-judge/pecan/judge"
	"github.com/pecan-judge/pecan/messages"
)

// busyRetry is how long a coordinator waits before it hands a test the
// router refused (its queue was full) back to it.
const busyRetry = 20 * time.Millisecond

// coordinator owns one submission (DESIGN §10): it has the program
// compiled in one sandbox, then hands its tests to the router, at most
// parallel at once, each a step of its own that any idle sandbox (here or
// on a member) runs; it cancels the tests first-failure mode no longer
// needs and answers as soon as the verdict is known, in test order as if
// the tests had run one after another. It is a child of the router,
// which leases the sandboxes: the coordinator only asks.
type coordinator struct {
	pool     *poolShared
	req      *messages.ExecuteRequest // the whole submission
	replyTo  *actor.PID
	parallel int
	// progress, when set, hears of each test as its result arrives.
	progress Progress

	sub       *submission
	all       bool
	resp      *messages.ExecuteResponse
	artifact  string
	manifest  string         // digest of the problem's manifest, for members
	steps     map[string]int // test step request id -> test index
	results   []*messages.TestResult
	final     []*messages.TestResult // decided, in order: final[:decided]
	decided   int
	finished  int // tests whose results arrived
	next      int // the next test to consider handing out
	firstFail int // lowest index of a failed test (pass-fail), or -1
	done      bool
	deadline  *time.Timer
}

// Internal messages of a coordinator.
type (
	// resend hands a refused test step to the router again.
	resend struct{ req *messages.ExecuteRequest }
	// submissionDeadline fires when nobody waits for the answer any more.
	submissionDeadline struct{}
	// cancelJob tells the router a step is no longer wanted: it leaves
	// the queue, or its member is told.
	cancelJob struct{ requestID string }
)

// Progress hears of a submission's tests as their results arrive, in
// the order they finish: the test, how many have finished and how many
// the submission has. It is called once with a nil test and none
// finished when the tests are known. A test first-failure mode later
// finds needless is Skipped in the answer all the same. (An alias, so
// that packages that may not import this one can name the type.)
type Progress = func(t *messages.TestResult, finished, total int)

func newCoordinator(pool *poolShared, j *job, parallel int, progress Progress) *coordinator {
	if n := int(j.req.GetSubmission().GetMaxParallelTests()); n > 0 {
		parallel = min(parallel, n)
	}
	return &coordinator{pool: pool, req: j.req, replyTo: j.replyTo, parallel: max(parallel, 1), progress: progress, firstFail: -1}
}

func (c *coordinator) Receive(ctx actor.Context) {
	defer func() {
		// A bug here must not strand the requester.
		if p := recover(); p != nil {
			c.fail(ctx, fmt.Sprintf("submission coordinator: panic: %v", p))
		}
	}()
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.start(ctx)
	case *messages.ExecuteResponse:
		if c.done {
			return // a cancelled test answering after all
		}
		if m.GetRequestId() == c.compileID() {
			c.compiled(ctx, m)
		} else {
			c.tested(ctx, m)
		}
	case *resend:
		if _, ok := c.steps[m.req.GetRequestId()]; ok && !c.done {
			ctx.Request(ctx.Parent(), m.req)
		}
	case *submissionDeadline:
		c.fail(ctx, "the submission's deadline passed before its tests were judged")
	case *actor.Stopped:
		if c.deadline != nil {
			c.deadline.Stop()
		}
		if c.artifact != "" && c.pool.job.artifacts != nil {
			c.pool.job.artifacts.Unpin(blob.Digest(c.artifact))
		}
		c.pool.stats.submissions.Add(-1)
	}
}

func (c *coordinator) start(ctx actor.Context) {
	c.pool.stats.submissions.Add(1)
	c.resp = &messages.ExecuteResponse{RequestId: c.req.GetRequestId(), Node: c.pool.job.Node, Submission: true}
	sub, err := resolveSubmission(c.req, c.pool.job)
	if err != nil {
		c.fail(ctx, err.Error())
		return
	}
	c.sub = sub
	if id := c.req.GetSubmission().GetProblemId(); id != "" {
		p, err := c.pool.job.Problems.Problem(id)
		if err != nil {
			c.fail(ctx, err.Error())
			return
		}
		d, err := c.pool.manifests.add(p)
		if err != nil {
			c.fail(ctx, err.Error())
			return
		}
		c.manifest = d.String()
	}
	c.all = c.req.GetSubmission().GetMode() == judge.ModeAll
	c.results = make([]*messages.TestResult, len(sub.tests))
	c.final = make([]*messages.TestResult, len(sub.tests))
	c.steps = map[string]int{}
	if c.progress != nil {
		c.progress(nil, 0, len(sub.tests))
	}
	if d := c.req.GetDeadlineUnixMs(); d > 0 {
		self, root := ctx.Self(), ctx.ActorSystem().Root
		c.deadline = time.AfterFunc(time.Until(time.UnixMilli(d)), func() { root.Send(self, &submissionDeadline{}) })
	}
	ctx.Request(ctx.Parent(), c.stepRequest(c.compileID(), &messages.Step{Kind: messages.StepKind_STEP_KIND_COMPILE}, nil))
}

func (c *coordinator) compileID() string { return c.req.GetRequestId() + "/compile" }

// stepRequest is the submission's request for one step: the same
// program, limits and deadline, and of inline tests only the step's.
func (c *coordinator) stepRequest(id string, step *messages.Step, inline *messages.InlineTest) *messages.ExecuteRequest {
	whole := c.req.Submission
	c.req.Submission = nil
	r := proto.Clone(c.req).(*messages.ExecuteRequest)
	c.req.Submission = whole
	r.RequestId = id
	r.Submission = &messages.Submission{ProblemId: whole.GetProblemId(), Mode: whole.GetMode(), Step: step}
	if inline != nil {
		r.Submission.Tests = []*messages.InlineTest{inline}
	}
	return r
}

// compiled is the compile step's answer.
func (c *coordinator) compiled(ctx actor.Context, m *messages.ExecuteResponse) {
	c.resp.Sandbox, c.resp.CompileOutput = m.GetSandbox(), m.GetCompileOutput()
	switch {
	case m.GetFailure() != messages.Failure_FAILURE_NONE:
		// Busy or lost: the requester hears it as is.
		m.RequestId = c.req.GetRequestId()
		c.answer(ctx, m)
		return
	case judge.Verdict(m.GetCode()) == judge.CompileError:
		c.resp.Code, c.resp.Status = m.Code, m.Status
		c.resp.Time, c.resp.WallTime, c.resp.MemoryKib = m.Time, m.WallTime, m.MemoryKib
		c.resp.ExitCode, c.resp.Signal = m.ExitCode, m.Signal
		for _, t := range c.sub.tests {
			c.resp.Tests = append(c.resp.Tests, skipped(t))
		}
		c.answer(ctx, c.resp)
		return
	case m.GetArtifact() == "":
		c.fail(ctx, m.GetError())
		return
	}
	c.artifact = m.GetArtifact()
	if c.pool.job.artifacts != nil {
		// Kept while the tests need it, whatever else is compiled.
		c.pool.job.artifacts.Pin(blob.Digest(c.artifact))
	}
	c.advance(ctx)
}

// tested is a test step's answer.
func (c *coordinator) tested(ctx actor.Context, m *messages.ExecuteResponse) {
	i, ok := c.steps[m.GetRequestId()]
	if !ok {
		return // cancelled
	}
	switch {
	case m.GetFailure() == messages.Failure_FAILURE_BUSY:
		// The queue was full: ask again shortly, still counted in flight.
		self, root, again := ctx.Self(), ctx.ActorSystem().Root, &resend{req: c.stepRequest(m.GetRequestId(), c.testStep(i), c.inline(i))}
		time.AfterFunc(busyRetry, func() { root.Send(self, again) })
		return
	case len(m.GetTests()) != 1:
		// The router retried it on other sandboxes already.
		c.fail(ctx, fmt.Sprintf("test %s: %s", c.sub.tests[i].name, m.GetError()))
		return
	}
	delete(c.steps, m.GetRequestId())
	c.pool.stats.testsInFlight.Add(-1)
	tr := m.GetTests()[0]
	c.results[i] = tr
	c.finished++
	if c.progress != nil {
		c.progress(tr, c.finished, len(c.sub.tests))
	}
	if c.sub.grading == nil && !c.all && tr.GetCode() != int32(judge.Accepted) && (c.firstFail < 0 || i < c.firstFail) {
		c.firstFail = i
	}
	c.advance(ctx)
}

// advance decides what it can in test order, cancels what is no longer
// needed, hands out tests while fewer than parallel run, and answers
// once every test is decided.
func (c *coordinator) advance(ctx actor.Context) {
	for c.decided < len(c.sub.tests) {
		i := c.decided
		if c.sub.needless(i, c.all, c.final[:i]) {
			c.final[i] = skipped(c.sub.tests[i])
		} else if c.results[i] != nil {
			c.final[i] = c.results[i]
			c.sub.record(i, c.final[i])
		} else {
			break
		}
		c.decided++
	}
	for id, i := range c.steps {
		if c.needlessNow(i) {
			c.cancel(ctx, id)
		}
	}
	if c.decided == len(c.sub.tests) {
		c.resp.Tests = c.final
		summarise(c.resp, c.sub.grading)
		c.answer(ctx, c.resp)
		return
	}
	for len(c.steps) < c.parallel && c.next < len(c.sub.tests) {
		i := c.next
		c.next++
		if i < c.decided || c.needlessNow(i) {
			continue
		}
		id := fmt.Sprintf("%s/test-%d", c.req.GetRequestId(), i)
		c.steps[id] = i
		c.pool.stats.testsInFlight.Add(1)
		ctx.Request(ctx.Parent(), c.stepRequest(id, c.testStep(i), c.inline(i)))
	}
}

// needlessNow reports that test i is known not to count, before the
// tests ahead of it are all decided: in pass-fail first-failure mode, a
// test after one that failed. (Decided tests are needless by the
// in-order rule of advance.)
func (c *coordinator) needlessNow(i int) bool {
	return c.firstFail >= 0 && i > c.firstFail
}

func (c *coordinator) testStep(i int) *messages.Step {
	return &messages.Step{Kind: messages.StepKind_STEP_KIND_TEST, Test: int32(i), Artifact: c.artifact, Manifest: c.manifest}
}

// inline is test i as the step carries it, for inline tests (named, since
// the step carries it alone), or nil.
func (c *coordinator) inline(i int) *messages.InlineTest {
	tests := c.req.GetSubmission().GetTests()
	if len(tests) == 0 {
		return nil
	}
	t := tests[i]
	return &messages.InlineTest{Name: c.sub.tests[i].name, Stdin: t.GetStdin(), Answer: t.GetAnswer()}
}

// cancel gives up on a test step: dropped from the queue, or stopped in
// its sandbox, which is then reset and idle again.
func (c *coordinator) cancel(ctx actor.Context, id string) {
	delete(c.steps, id)
	c.pool.stats.testsInFlight.Add(-1)
	c.pool.cancels.cancel(id)
	ctx.Send(ctx.Parent(), &cancelJob{requestID: id})
}

// fail answers InternalError with why.
func (c *coordinator) fail(ctx actor.Context, why string) {
	if c.resp == nil {
		c.resp = &messages.ExecuteResponse{RequestId: c.req.GetRequestId(), Node: c.pool.job.Node, Submission: true}
	}
	c.resp.Tests = nil
	c.answer(ctx, internalError(c.resp, why))
}

// answer sends the requester its answer, once, cancels whatever still
// runs and stops.
func (c *coordinator) answer(ctx actor.Context, resp *messages.ExecuteResponse) {
	if c.done {
		return
	}
	c.done = true
	for id := range c.steps {
		c.cancel(ctx, id)
	}
	ctx.Send(c.replyTo, resp)
	ctx.Stop(ctx.Self())
}

// poolStats are counters every actor of a pool may update.
type poolStats struct {
	submissions   atomic.Int64 // coordinators running
	testsInFlight atomic.Int64 // their test steps handed out, not answered
	fetched       atomic.Int64 // blob bytes fetched from members
}

// stepCancels lets a coordinator stop a step a sandbox actor is running:
// the actor registers the step's context while it runs. A step cancelled
// before it starts is remembered for a while, so it does not start.
type stepCancels struct {
	mu      sync.Mutex
	running map[string]context.CancelFunc
	early   map[string]time.Time
}

// earlyCancelKept is how long a cancel for a step not yet started is
// remembered: past it the step has been dropped or has run.
const earlyCancelKept = 10 * time.Minute

func newStepCancels() *stepCancels {
	return &stepCancels{running: map[string]context.CancelFunc{}, early: map[string]time.Time{}}
}

// start registers a running step; it reports false when the step was
// cancelled already.
func (s *stepCancels) start(id string, cancel context.CancelFunc) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.early[id]; ok {
		delete(s.early, id)
		return false
	}
	s.running[id] = cancel
	return true
}

func (s *stepCancels) finish(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, id)
}

func (s *stepCancels) cancel(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cancel, ok := s.running[id]; ok {
		cancel()
		return
	}
	now := time.Now()
	for k, t := range s.early {
		if now.Sub(t) > earlyCancelKept {
			delete(s.early, k)
		}
	}
	s.early[id] = now
}
