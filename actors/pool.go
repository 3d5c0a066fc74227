// Package actors is Pecan's sandbox pool on protoactor-go: a Router that
// leases idle sandbox actors to requests (and queues or refuses the
// rest), a PoolSupervisor that keeps N sandbox actors alive, and the
// sandbox actors, each owning one prewarmed sandbox of the configured
// backend (DESIGN §1).
package actors

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/blob"
	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
)

// Options configure a pool.
type Options struct {
	// PoolSize is the number of sandboxes; QueueLength bounds the
	// requests waiting for one (0: refuse at once when none is idle).
	PoolSize, QueueLength int
	Backend               backends.Backend
	Languages             *languages.Registry
	// Limits gives OutputKiB, Processes, OpenFiles, FileSizeKiB and
	// StackKiB for runs; the request gives time and memory.
	Limits config.Limits
	// Node is put into responses and the status, and prefixes sandbox ids.
	Node   string
	Logger logrus.FieldLogger
	// Cluster, when set, shares this pool with the cluster's members.
	Cluster *Cluster
	// Problems, when set, gives submissions their stored problems.
	Problems Problems
	// Artifacts, when set, is the compile cache: an identical submission
	// or a rejudge runs the program compiled before.
	Artifacts *blob.Cache
	// MaxParallelTests bounds the tests of one submission running at
	// once; 0 means PoolSize.
	MaxParallelTests int
	// OnTestResult, when set, hears of each test of a submission judged
	// on this node as soon as it is decided (`pecan judge --problem`
	// prints them as they come).
	OnTestResult func(requestID string, t *messages.TestResult)

	// storm overrides the restart-storm bounds (tests only).
	storm *stormPolicy
}

// poolShared is what every actor of one pool reads. It is written once in
// Start and never changed (its counters are atomic).
type poolShared struct {
	router *actor.PID // set once the router is spawned, before the sandbox actors
	// parallel bounds the tests of one submission in flight.
	parallel int
	stats    *poolStats
	cancels  *stepCancels
	// manifests are those of the problems this node's submissions use,
	// for members to fetch.
	manifests *manifests
	backend   backends.Backend
	languages *languages.Registry
	job       JobConfig
	idPrefix  string
	storm     stormPolicy
	logger    logrus.FieldLogger
}

// Pool is a running sandbox pool.
type Pool struct {
	system     *actor.ActorSystem
	router     *actor.PID
	supervisor *actor.PID
	size       int
	node       string
	superDone  <-chan struct{}
	compiles   map[string]*atomic.Int64
	shared     *poolShared

	stopOnce sync.Once
	stopErr  error
}

// pollInterval is how often WaitReady looks at the status.
const pollInterval = 10 * time.Millisecond

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// Start spawns the router, the supervisor and its sandbox actors. The
// sandboxes are built in the background; WaitReady waits for them.
func Start(system *actor.ActorSystem, opts Options) (*Pool, error) {
	switch {
	case system == nil:
		return nil, errors.New("actors: nil actor system")
	case opts.PoolSize < 1:
		return nil, fmt.Errorf("actors: pool size must be at least 1, got %d", opts.PoolSize)
	case opts.QueueLength < 0:
		return nil, fmt.Errorf("actors: queue length must not be negative, got %d", opts.QueueLength)
	case opts.Backend == nil:
		return nil, errors.New("actors: no backend")
	case opts.Languages == nil:
		return nil, errors.New("actors: no language registry")
	}
	logger := opts.Logger
	if logger == nil {
		l := logrus.New()
		l.SetLevel(logrus.WarnLevel)
		logger = l
	}
	logger = logger.WithFields(logrus.Fields{"component": "pool", "backend": opts.Backend.Name()})
	storm := defaultStormPolicy()
	if opts.storm != nil {
		storm = *opts.storm
	}
	prefix := unsafeID.ReplaceAllString(opts.Node, "_")
	if prefix == "" {
		prefix = "sb"
	}

	shared := &poolShared{
		backend:   opts.Backend,
		languages: opts.Languages,
		job: JobConfig{
			Limits: opts.Limits, Node: opts.Node, Problems: opts.Problems, OnTestResult: opts.OnTestResult,
			languages: opts.Languages, artifacts: opts.Artifacts, validators: newValidatorCache(validatorCacheBytes), compiles: compileCounters(opts.Languages),
		},
		idPrefix:  prefix,
		storm:     storm,
		logger:    logger,
		parallel:  opts.MaxParallelTests,
		stats:     &poolStats{},
		cancels:   newStepCancels(),
		manifests: newManifests(manifestsKept),
	}
	shared.job.remoteProblems = newProblemCache(manifestsKept)
	if opts.Cluster != nil {
		shared.job.fetch = &fetcher{root: system.Root, fetched: func(n int) { shared.stats.fetched.Add(int64(n)) }}
	}
	if shared.parallel <= 0 {
		shared.parallel = opts.PoolSize
	}
	root := system.Root
	routerProps := actor.PropsFromProducer(func() actor.Actor {
		return newRouter(shared, opts.QueueLength, logger.WithField("actor", "router"))
	})
	var router *actor.PID
	if opts.Cluster != nil {
		// Members address it by name.
		var err error
		if router, err = root.SpawnNamed(routerProps, RouterName); err != nil {
			return nil, fmt.Errorf("actors: spawn router: %w", err)
		}
		opts.Cluster.attach(router)
	} else {
		router = root.SpawnPrefix(routerProps, "pecan-router-")
	}
	// Only the sandbox actors read it, and they are spawned below.
	shared.router = router
	if opts.Cluster != nil {
		if _, err := root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &blobServer{pool: shared} }), BlobServerName); err != nil {
			return nil, fmt.Errorf("actors: spawn blob server: %w", err)
		}
	}
	done := make(chan struct{})
	sup := root.SpawnPrefix(actor.PropsFromProducer(func() actor.Actor {
		return &supervisor{pool: shared, size: opts.PoolSize, stopped: done}
	}, actor.WithSupervisor(newCountingStrategy(storm, router, logger.WithField("actor", "supervisor")))), "pecan-pool-")
	return &Pool{system: system, router: router, supervisor: sup, size: opts.PoolSize, node: opts.Node, superDone: done, compiles: shared.job.compiles, shared: shared}, nil
}

// manifestsKept bounds the problem manifests a node keeps for members,
// and those a member keeps from others.
const manifestsKept = 64

// validatorCacheBytes bounds the compiled validators a node keeps in
// memory.
const validatorCacheBytes = 256 << 20

// compileCounters has one counter per configured language.
func compileCounters(langs *languages.Registry) map[string]*atomic.Int64 {
	m := map[string]*atomic.Int64{}
	if langs != nil {
		for _, l := range langs.All() {
			m[l.ID] = &atomic.Int64{}
		}
	}
	return m
}

// Compiles is how many compiles this node's sandboxes ran, by language.
func (p *Pool) Compiles() map[string]int64 {
	out := make(map[string]int64, len(p.compiles))
	for id, n := range p.compiles {
		out[id] = n.Load()
	}
	return out
}

// Router is the PID of the pool's router: it accepts
// *messages.ExecuteRequest (answered with *messages.ExecuteResponse to
// the sender), for example from another node.
func (p *Pool) Router() *actor.PID { return p.router }

// Execute judges one request and waits for the answer until ctx ends.
// ctx must have a deadline: it bounds the wait and, when the request has
// no earlier deadline_unix_ms, Execute sets that field from it (so a job
// still queued when the caller gives up is dropped, not run).
//
// A BUSY or INTERNAL outcome is a response with Failure set, not an
// error; an error means no answer arrived (ctx ended, pool stopped).
func (p *Pool) Execute(ctx context.Context, req *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
	return p.ExecuteWithProgress(ctx, req, nil)
}

// ExecuteWithProgress is Execute that, for a submission, calls progress
// as each test's result arrives (from another goroutine, before the
// answer).
func (p *Pool) ExecuteWithProgress(ctx context.Context, req *messages.ExecuteRequest, progress Progress) (*messages.ExecuteResponse, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		return nil, errors.New("actors: Execute needs a context with a deadline")
	}
	if ms := dl.UnixMilli(); req.GetDeadlineUnixMs() == 0 || req.GetDeadlineUnixMs() > ms {
		req.DeadlineUnixMs = ms
	}
	var msg any = req
	if progress != nil && req.GetSubmission() != nil {
		msg = &submitWithProgress{req: req, progress: progress}
	}
	res, err := p.request(ctx, msg, dl)
	if err != nil {
		return nil, err
	}
	resp, ok := res.(*messages.ExecuteResponse)
	if !ok {
		return nil, fmt.Errorf("actors: unexpected answer %T", res)
	}
	return resp, nil
}

// Status returns a snapshot of the pool. Available counts sandboxes that
// are up (Idle + Running); Error counts broken, restarting or vacant ones.
func (p *Pool) Status(ctx context.Context) (*messages.PoolStatus, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(5 * time.Second) // a status is instant; never wait forever
	}
	res, err := p.request(ctx, &statusRequest{}, dl)
	if err != nil {
		return nil, err
	}
	s, ok := res.(*messages.PoolStatus)
	if !ok {
		return nil, fmt.Errorf("actors: unexpected answer %T", res)
	}
	s.Compiles = p.Compiles()
	if c := p.shared.job.artifacts; c != nil {
		s.ArtifactHits, s.ArtifactMisses, s.ArtifactCacheBytes = c.Hits(), c.Misses(), c.Bytes()
	}
	s.FetchedBytes = p.shared.stats.fetched.Load()
	return s, nil
}

// WaitReady returns once every sandbox of the pool is built and up, or
// with an error when ctx ends first.
func (p *Pool) WaitReady(ctx context.Context) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		s, err := p.Status(ctx)
		if err != nil {
			return fmt.Errorf("actors: wait for pool: %w", err)
		}
		if int(s.GetAvailable()) >= p.size {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("actors: pool not ready (%d of %d sandboxes up, %d starting, %d broken): %w",
				s.GetAvailable(), p.size, s.GetStarting(), s.GetError(), ctx.Err())
		case <-t.C:
		}
	}
}

// Stop answers every queued request (FAILURE_INTERNAL), lets running jobs
// finish, stops every actor and destroys every sandbox. It does not close
// the backend, which the caller owns. A second call returns the first
// call's result.
func (p *Pool) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() { p.stopErr = p.stop(ctx) })
	return p.stopErr
}

func (p *Pool) stop(ctx context.Context) error {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(2 * time.Minute)
	}
	// First the router stops handing out work, so no job goes to a
	// sandbox actor that is about to stop (its mailbox would be dropped
	// and the requester left waiting).
	if _, err := p.request(ctx, &drain{}, dl); err != nil {
		return fmt.Errorf("actors: drain router: %w", err)
	}
	// Poisoning the supervisor stops its children once their current job
	// is done; it stops last. Its Stopped closes superDone. This is
	// waited on directly rather than with PoisonFuture, whose fixed 10 s
	// timeout is shorter than a long job.
	p.system.Root.Poison(p.supervisor)
	select {
	case <-p.superDone:
	case <-ctx.Done():
		return fmt.Errorf("actors: stop sandbox actors: %w", ctx.Err())
	}
	if err := p.system.Root.PoisonFuture(p.router).Wait(); err != nil {
		return fmt.Errorf("actors: stop router: %w", err)
	}
	return nil
}

// cancelled completes a future early when the caller's context ends.
type cancelled struct{}

// request sends msg to the router and waits for its answer until dl or
// until ctx ends, whichever is first.
func (p *Pool) request(ctx context.Context, msg interface{}, dl time.Time) (interface{}, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	timeout := time.Until(dl)
	if timeout <= 0 {
		// RequestFuture with a zero timeout times out at once anyway.
		return nil, context.DeadlineExceeded
	}
	f := p.system.Root.RequestFuture(p.router, msg, timeout)
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			// Completes the future so Result returns now.
			p.system.Root.Send(f.PID(), &cancelled{})
		case <-finished:
		}
	}()
	res, err := f.Result()
	switch {
	case errors.Is(err, actor.ErrTimeout):
		return nil, context.DeadlineExceeded
	case err != nil:
		return nil, err
	}
	if _, ok := res.(*cancelled); ok {
		return nil, ctx.Err()
	}
	return res, nil
}
