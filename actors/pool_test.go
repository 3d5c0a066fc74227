package actors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/fake"
	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/judge"
	"github.com/pecan-judge/pecan/messages"
)

func testLogger() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// startPool starts a pool on a fresh actor system, waits until it is
// ready and stops it when the test ends.
func startPool(t *testing.T, size, queue int, b *fake.Backend) *Pool {
	t.Helper()
	return startPoolWith(t, Options{
		PoolSize:    size,
		QueueLength: queue,
		Backend:     b,
		Languages:   testLanguages(t),
		Limits:      config.Default().Limits,
		Node:        "node-1",
		Logger:      testLogger(),
	})
}

// stormless is startPool's options with a restart-storm policy that no
// test reaches: where a test counts restarts, the kills may fall unevenly
// on the slots, and a slot restarted past the default policy's limit is
// replaced (a storm) rather than restarted, which the count would miss.
func stormless(t *testing.T, size, queue int, b *fake.Backend) Options {
	return Options{
		PoolSize: size, QueueLength: queue, Backend: b, Languages: testLanguages(t),
		Limits: config.Default().Limits, Node: "node-1", Logger: testLogger(),
		storm: &stormPolicy{maxRestarts: 1000, window: time.Minute, respawnInitial: 100 * time.Millisecond, respawnMax: time.Second, healthyAfter: time.Minute},
	}
}

// startPoolWith is startPool with every option given.
func startPoolWith(t *testing.T, opts Options) *Pool {
	t.Helper()
	system := NewActorSystem(testLogger())
	p, err := Start(system, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		system.Shutdown()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

func execute(t *testing.T, p *Pool, req *messages.ExecuteRequest) *messages.ExecuteResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := p.Execute(ctx, req)
	if err != nil {
		t.Fatalf("execute %s: %v", req.RequestId, err)
	}
	return resp
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func status(t *testing.T, p *Pool) *messages.PoolStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := p.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPoolAcceptedWrongAnswerCompileError(t *testing.T) {
	b := fake.New(program)
	p := startPool(t, 2, 4, b)
	s := status(t, p)
	if s.Available != 2 || s.Idle != 2 || s.Node != "node-1" {
		t.Fatalf("status %+v", s)
	}
	for _, c := range []struct {
		req  *messages.ExecuteRequest
		want judge.Verdict
	}{
		{request("py", "print 42", "42"), judge.Accepted},
		{request("c", "print 42", "42"), judge.Accepted},
		{request("py", "print 41", "42"), judge.WrongAnswer},
		{request("c", "error", "42"), judge.CompileError},
	} {
		resp := execute(t, p, c.req)
		if resp.Failure != messages.Failure_FAILURE_NONE || resp.Code != int32(c.want) {
			t.Fatalf("%s: got %+v, want %v", c.req.Code, resp, c.want)
		}
		if resp.Node != "node-1" || !strings.HasPrefix(resp.Sandbox, "node-1-") {
			t.Fatalf("identity: %+v", resp)
		}
	}
	// A reset after every job, and one between the compile and the run of
	// the compiled job that ran (the run gets a new container). The answer
	// goes out before the last reset, so it may lag.
	eventually(t, "a reset after every job", func() bool { return b.Counts().Reset == 5 })
}

func TestPoolConcurrentJobs(t *testing.T) {
	b := fake.New(program)
	p := startPool(t, 3, 64, b)
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req := request("py", fmt.Sprintf("print %d", i), fmt.Sprint(i))
			resp, err := p.Execute(ctx, req)
			if err != nil || resp.Code != int32(judge.Accepted) {
				errs <- fmt.Sprintf("%d: %v %+v", i, err, resp)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// blocker makes runs of "block" wait until released, and counts them.
type blocker struct {
	started chan string
	release chan struct{}
	runs    atomic.Int32
}

func newBlocker() *blocker {
	return &blocker{started: make(chan string, 16), release: make(chan struct{})}
}

func (bl *blocker) run(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
	bl.runs.Add(1)
	if string(files["main.py"]) == "block" {
		bl.started <- sb.ID()
		select {
		case <-bl.release:
		case <-ctx.Done():
			return backends.RunResult{}, ctx.Err()
		}
		return backends.RunResult{Stdout: []byte("done\n")}, nil
	}
	return program(ctx, sb, spec, files)
}

func TestPoolQueueFullIsBusy(t *testing.T) {
	bl := newBlocker()
	p := startPool(t, 1, 1, fake.New(bl.run))

	results := make(chan *messages.ExecuteResponse, 2)
	go func() { results <- execute(t, p, request("py", "block", "done")) }()
	<-bl.started // the only sandbox is busy
	go func() { results <- execute(t, p, request("py", "print 1", "1")) }()
	eventually(t, "a queued request", func() bool { return status(t, p).QueueLength == 1 })

	resp := execute(t, p, request("py", "print 2", "2"))
	if resp.Failure != messages.Failure_FAILURE_BUSY || resp.Error == "" {
		t.Fatalf("third request: %+v, want BUSY", resp)
	}
	close(bl.release)
	for range 2 {
		if r := <-results; r.Code != int32(judge.Accepted) {
			t.Fatalf("got %+v", r)
		}
	}
}

func TestPoolQueuedRequestPastDeadlineIsDropped(t *testing.T) {
	bl := newBlocker()
	p := startPool(t, 1, 4, fake.New(bl.run))
	done := make(chan *messages.ExecuteResponse, 1)
	go func() { done <- execute(t, p, request("py", "block", "done")) }()
	<-bl.started

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Execute(ctx, request("py", "print 1", "1")); err == nil {
		t.Fatal("a request that timed out in the queue got an answer")
	}
	close(bl.release)
	<-done
	// The next request runs right away; the expired one never ran.
	execute(t, p, request("py", "print 3", "3"))
	if n := bl.runs.Load(); n != 2 {
		t.Fatalf("%d runs, want 2 (the expired request must not run)", n)
	}
}

func TestPoolBrokenSandboxRetriedOnAnother(t *testing.T) {
	var failed atomic.Value // id of the sandbox that broke
	run := func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		if failed.CompareAndSwap(nil, sb.ID()) {
			sb.Break()
			return backends.RunResult{}, fmt.Errorf("init process died: %w", backends.ErrBroken)
		}
		return program(ctx, sb, spec, files)
	}
	b := fake.New(run)
	p := startPoolWith(t, stormless(t, 2, 4, b))

	resp := execute(t, p, request("py", "print 7", "7"))
	if resp.Failure != messages.Failure_FAILURE_NONE || resp.Code != int32(judge.Accepted) {
		t.Fatalf("got %+v", resp)
	}
	if resp.Sandbox == failed.Load().(string) {
		t.Fatalf("retried on the sandbox that broke (%s)", resp.Sandbox)
	}
	eventually(t, "the pool back at full strength", func() bool {
		s := status(t, p)
		return s.Available == 2 && s.Idle == 2 && s.Restarts == 1 && s.Error == 0
	})
	c := b.Counts()
	if c.New != 3 || c.Live != 2 {
		t.Fatalf("counts %+v: want the broken sandbox replaced", c)
	}
	for _, sb := range b.Sandboxes() {
		if sb.ID() == failed.Load().(string) && !sb.Destroyed() {
			t.Fatal("the broken sandbox was not destroyed")
		}
	}
}

// Sandboxes killed from outside under a job, more times than the
// first failure alone: the job is retried each time and gets its verdict.
func TestPoolJobRetriedWhileItsSandboxesAreKilled(t *testing.T) {
	const kills = maxAttempts - 1
	var killed atomic.Int32
	run := func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		if killed.Add(1) <= kills {
			sb.Break() // as SIGKILL of its init would
			return backends.RunResult{}, fmt.Errorf("init killed: %w", backends.ErrBroken)
		}
		return program(ctx, sb, spec, files)
	}
	b := fake.New(run)
	p := startPoolWith(t, stormless(t, 2, 4, b))

	resp := execute(t, p, request("py", "print 7", "7"))
	if resp.Failure != messages.Failure_FAILURE_NONE || resp.Code != int32(judge.Accepted) {
		t.Fatalf("after %d kills: %+v, want Accepted", kills, resp)
	}
	if n := b.Counts().Run; n != kills+1 {
		t.Errorf("%d runs, want %d (one per sandbox killed, one that finished)", n, kills+1)
	}
	eventually(t, "the pool back at full strength", func() bool {
		s := status(t, p)
		return s.Idle == 2 && s.Restarts == kills && s.Error == 0
	})
}

// A program that kills every sandbox it runs in still ends: after
// maxAttempts sandboxes, FAILURE_INTERNAL with the cause.
func TestPoolJobKillingEverySandboxEnds(t *testing.T) {
	var breaks atomic.Int32
	run := func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		if string(files["main.py"]) == "poison" {
			breaks.Add(1)
			return backends.RunResult{}, fmt.Errorf("seccomp killed init: %w", backends.ErrBroken)
		}
		return program(ctx, sb, spec, files)
	}
	p := startPoolWith(t, stormless(t, 2, 4, fake.New(run)))

	resp := execute(t, p, request("py", "poison", ""))
	if resp.Failure != messages.Failure_FAILURE_INTERNAL || resp.Code != int32(judge.InternalError) ||
		!strings.Contains(resp.Error, "seccomp killed init") || !strings.Contains(resp.Error, fmt.Sprint(maxAttempts)) {
		t.Fatalf("got %+v, want FAILURE_INTERNAL naming the cause and the attempts", resp)
	}
	if n := breaks.Load(); n != maxAttempts {
		t.Fatalf("job ran %d times, want %d", n, maxAttempts)
	}
	eventually(t, "the pool back at full strength", func() bool {
		s := status(t, p)
		return s.Available == 2 && s.Restarts == maxAttempts
	})
	if r := execute(t, p, request("py", "print 1", "1")); r.Code != int32(judge.Accepted) {
		t.Fatalf("after recovery: %+v", r)
	}
}

// A job whose sandboxes keep dying is retried only while its requester
// waits: no attempt starts past its deadline, however few it had.
func TestPoolRetryEndsAtDeadline(t *testing.T) {
	var mu sync.Mutex
	var starts []time.Time
	run := func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		if string(files["main.py"]) == "slow poison" {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
			time.Sleep(100 * time.Millisecond)
			return backends.RunResult{}, fmt.Errorf("init died: %w", backends.ErrBroken)
		}
		return program(ctx, sb, spec, files)
	}
	// One sandbox: a retry goes ahead of the queue, so the job sent
	// after the deadline runs only once the poison is given up.
	p := startPool(t, 1, 4, fake.New(run))
	ctx, cancel := context.WithTimeout(context.Background(), 350*time.Millisecond)
	defer cancel()
	deadline, _ := ctx.Deadline()
	if resp, err := p.Execute(ctx, request("py", "slow poison", "")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %+v, %v; want the deadline to end the wait", resp, err)
	}
	if r := execute(t, p, request("py", "print 2", "2")); r.Code != int32(judge.Accepted) {
		t.Fatalf("after the deadline: %+v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(starts) < 2 || len(starts) >= maxAttempts {
		t.Errorf("%d attempts before the deadline, want several but fewer than %d", len(starts), maxAttempts)
	}
	// The deadline travels in milliseconds.
	for i, at := range starts {
		if at.After(deadline.Add(time.Millisecond)) {
			t.Errorf("attempt %d started %s after the deadline", i+1, at.Sub(deadline))
		}
	}
}

func TestPoolResetFailureRestartsSandbox(t *testing.T) {
	b := fake.New(program)
	var once atomic.Bool
	b.SetResetError(func(sb *fake.Sandbox) error {
		if once.CompareAndSwap(false, true) {
			return fake.ErrInjected
		}
		return nil
	})
	p := startPool(t, 1, 4, b)
	// The job itself was answered before the reset failed.
	if r := execute(t, p, request("py", "print 1", "1")); r.Code != int32(judge.Accepted) {
		t.Fatalf("got %+v", r)
	}
	// The next one waits for the restarted sandbox, in the queue.
	if r := execute(t, p, request("py", "print 2", "2")); r.Code != int32(judge.Accepted) {
		t.Fatalf("got %+v", r)
	}
	eventually(t, "restart counted", func() bool { s := status(t, p); return s.Restarts == 1 && s.Idle == 1 })
	if c := b.Counts(); c.New != 2 || c.Destroy != 1 {
		t.Fatalf("counts %+v", c)
	}
}

func TestPoolBackendErrorPingsBeforeReuse(t *testing.T) {
	var calls atomic.Int32
	run := func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		switch calls.Add(1) {
		case 1:
			return backends.RunResult{}, fake.ErrInjected // sandbox still fine
		case 2:
			sb.Break() // the error hid a dead sandbox: Ping finds out
			return backends.RunResult{}, fake.ErrInjected
		}
		return program(ctx, sb, spec, files)
	}
	b := fake.New(run)
	p := startPool(t, 1, 4, b)
	for i := range 2 {
		r := execute(t, p, request("py", "print 1", "1"))
		if r.Failure != messages.Failure_FAILURE_NONE || r.Code != int32(judge.InternalError) {
			t.Fatalf("job %d: %+v, want an InternalError verdict", i, r)
		}
	}
	if r := execute(t, p, request("py", "print 1", "1")); r.Code != int32(judge.Accepted) {
		t.Fatalf("got %+v", r)
	}
	if c := b.Counts(); c.New != 2 {
		t.Fatalf("counts %+v: only the dead sandbox should be rebuilt", c)
	}
}

func TestPoolNewFailureRecovers(t *testing.T) {
	b := fake.New(program)
	var fails atomic.Int32
	b.SetNewError(func(id string) error {
		if fails.Add(1) <= 2 {
			return fake.ErrInjected
		}
		return nil
	})
	p := startPool(t, 2, 4, b) // WaitReady inside
	if s := status(t, p); s.Restarts != 2 || s.Available != 2 {
		t.Fatalf("status %+v", s)
	}
}

func TestPoolStopDestroysEverySandbox(t *testing.T) {
	bl := newBlocker()
	b := fake.New(bl.run)
	system := NewActorSystem(testLogger())
	p, err := Start(system, Options{PoolSize: 3, QueueLength: 4, Backend: b, Languages: testLanguages(t), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer system.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	// A running job finishes and is answered; a queued one is answered
	// with FAILURE_INTERNAL, not left waiting.
	results := make(chan *messages.ExecuteResponse, 4)
	for range 4 {
		go func() { results <- execute(t, p, request("py", "block", "done")) }()
	}
	for range 3 {
		<-bl.started
	}
	eventually(t, "one queued", func() bool { return status(t, p).QueueLength == 1 })

	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop(ctx) }()
	r := <-results
	if r.Failure != messages.Failure_FAILURE_INTERNAL {
		t.Fatalf("queued job: %+v, want FAILURE_INTERNAL", r)
	}
	close(bl.release)
	for range 3 {
		if r := <-results; r.Code != int32(judge.Accepted) {
			t.Fatalf("running job: %+v", r)
		}
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	c := b.Counts()
	if c.Live != 0 || c.Destroy != c.New || c.New != 3 {
		t.Fatalf("counts after stop %+v", c)
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if _, err := p.Execute(ctx, request("py", "print 1", "1")); err == nil {
		t.Fatal("execute on a stopped pool answered")
	}
}

func TestExecuteNeedsDeadline(t *testing.T) {
	p := startPool(t, 1, 1, fake.New(program))
	if _, err := p.Execute(context.Background(), request("py", "print 1", "1")); err == nil {
		t.Fatal("no error without a deadline")
	}
	ctx, cancel := context.WithCancel(context.Background())
	ctx, cancel2 := context.WithTimeout(ctx, time.Minute)
	defer cancel2()
	cancel()
	if _, err := p.Execute(ctx, request("py", "print 1", "1")); err == nil {
		t.Fatal("a cancelled context got an answer")
	}
}

// The router answers ExecuteRequests from any sender, as a remote node's.
func TestRouterAnswersRawRequest(t *testing.T) {
	p := startPool(t, 1, 1, fake.New(program))
	req := request("py", "print 5", "5")
	req.DeadlineUnixMs = time.Now().Add(5 * time.Second).UnixMilli()
	res, err := p.system.Root.RequestFuture(p.Router(), req, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := res.(*messages.ExecuteResponse); !ok || r.Code != int32(judge.Accepted) {
		t.Fatalf("got %#v", res)
	}
}

func TestPoolRestartStormIsBoundedAndRefilled(t *testing.T) {
	b := fake.New(program)
	// The first sandbox cannot be built 4 times in a row: 3 restarts are
	// allowed, the 4th failure stops the actor and its slot is refilled.
	var attempts atomic.Int32
	b.SetNewError(func(id string) error {
		if strings.Contains(id, "-0-") && attempts.Add(1) <= 4 {
			return fake.ErrInjected
		}
		return nil
	})
	system := NewActorSystem(testLogger())
	defer system.Shutdown()
	p, err := Start(system, Options{
		PoolSize: 2, QueueLength: 4, Backend: b, Languages: testLanguages(t), Logger: testLogger(),
		storm: &stormPolicy{maxRestarts: 3, window: time.Minute, respawnInitial: 100 * time.Millisecond, respawnMax: time.Second, healthyAfter: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer p.Stop(ctx)
	eventually(t, "the slot vacant", func() bool { return status(t, p).Error == 1 })
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	s := status(t, p)
	if s.Restarts != 3 || s.Error != 0 || s.Idle != 2 {
		t.Fatalf("status %+v", s)
	}
	if c := b.Counts(); c.NewFailed != 4 || c.New != 2 {
		t.Fatalf("counts %+v, want 4 failed builds and 2 sandboxes", c)
	}
}

// A slot whose storms go on is left empty longer each time: the
// supervisor asks for doubling delays, up to the cap.
func TestPoolRestartStormBackoffGrows(t *testing.T) {
	b := fake.New(program)
	var broken atomic.Bool
	broken.Store(true)
	b.SetNewError(func(id string) error {
		if strings.Contains(id, "-0-") && broken.Load() {
			return fake.ErrInjected
		}
		return nil
	})
	var mu sync.Mutex
	var delays []time.Duration
	policy := stormPolicy{
		maxRestarts: 1, window: time.Minute,
		respawnInitial: time.Second, respawnMax: 4 * time.Second, healthyAfter: time.Hour,
		afterFunc: func(d time.Duration, refill func()) {
			mu.Lock()
			delays = append(delays, d)
			mu.Unlock()
			go refill() // at once: the test checks the delays asked for, not the clock
		},
	}
	system := NewActorSystem(testLogger())
	defer system.Shutdown()
	p, err := Start(system, Options{
		PoolSize: 2, QueueLength: 4, Backend: b, Languages: testLanguages(t), Logger: testLogger(), storm: &policy,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer p.Stop(ctx)
	recorded := func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), delays...)
	}
	eventually(t, "four storms of slot 0", func() bool { return len(recorded()) >= 4 })
	broken.Store(false)
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	got := recorded()
	for i, w := range want {
		if got[i] != w {
			t.Fatalf("refill delays %v, want %v then the cap", got, want)
		}
	}
}

func TestStormBackoffResetsAfterHealthyPeriod(t *testing.T) {
	p := stormPolicy{respawnInitial: 2 * time.Second, respawnMax: 20 * time.Second, healthyAfter: time.Minute}
	var slot slotStorms
	now := time.Unix(1e9, 0)
	var got []time.Duration
	// Storms soon after each refill: 2, 4, 8, 16, then the cap.
	for range 6 {
		d := p.backoff(&slot, now)
		got = append(got, d)
		now = now.Add(d)
		slot.refilled = now
		now = now.Add(time.Second)
	}
	want := []time.Duration{2, 4, 8, 16, 20, 20}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays %v, want %v seconds", got, want)
		}
	}
	// A minute of health since the last refill: the next storm starts over.
	if d := p.backoff(&slot, slot.refilled.Add(time.Minute)); d != 2*time.Second {
		t.Errorf("storm after a healthy minute: %s, want 2s", d)
	}
	// Not yet healthy long enough: it goes on growing.
	slot.refilled = now
	if d := p.backoff(&slot, now.Add(59*time.Second)); d != 4*time.Second {
		t.Errorf("storm 59 s after the refill: %s, want 4s", d)
	}
}
