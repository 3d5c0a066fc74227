package async

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"

	"github.com/pecan-judge/pecan/messages"
)

// Executor judges one request; the pool (or a cluster) implements it. It
// must return once ctx is done. A response with Failure set means the
// request was not judged.
type Executor interface {
	Execute(ctx context.Context, req *messages.ExecuteRequest) (*messages.ExecuteResponse, error)
}

// Render turns a response into the bytes clients receive as the result
// (the webhook's "res" and the polled result). A response with Failure set
// is a job that finished without a verdict.
type Render func(*messages.ExecuteResponse) ([]byte, error)

// ErrQueueFull is returned by Submit when queue_length jobs are waiting.
var ErrQueueFull = errors.New("async: queue is full")

// Options configure a Manager.
type Options struct {
	// StorePath is the bbolt file.
	StorePath string
	// Workers is how many jobs run at once.
	Workers int
	// QueueLength bounds jobs accepted and not finished.
	QueueLength int
	// ResultTTL is how long a finished job is kept once its webhook is
	// delivered or given up.
	ResultTTL time.Duration
	Webhook   WebhookOptions
	// Deliverers is how many webhooks are sent at once; 0 means 64.
	Deliverers int
	// PerHost is how many of them may wait on one receiver host; 0 means
	// 4. A receiver that never answers then holds a few deliverers for
	// its timeout, not all of them.
	PerHost int
	// BusyBackoff is the wait before a job the pool refused as BUSY is
	// tried again; 0 means 250 ms.
	BusyBackoff time.Duration
	// MaxRuns is how many runs may fail internally before the job is
	// finished with an error; 0 means 3.
	MaxRuns int
	Render  Render
	// Kinds render the jobs of other transports (a compatible API), by
	// Job.Kind; a job of an unknown kind is rendered by Render.
	Kinds  map[string]Kind
	Logger logrus.FieldLogger
}

// Kind is how the jobs of one transport are rendered and delivered. Its
// functions are looked up by name when needed, so jobs of the kind keep
// working after a restart.
type Kind struct {
	// Render turns a response into the stored result, from the job's Meta.
	Render func(resp *messages.ExecuteResponse, meta []byte) ([]byte, error)
	// Webhook is the body of the webhook request, from the stored result;
	// nil sends the native {"request_id", "res"} body.
	Webhook func(id string, result []byte) ([]byte, error)
	// Method is the webhook's HTTP method; empty is POST.
	Method string
	// MaxAttempts bounds the webhook attempts; 0 retries for RetryFor.
	MaxAttempts int
}

// Job is a submission.
type Job struct {
	// Request is judged as it is; its RequestId becomes the job's id
	// (a new one when empty). Its deadline is set when a worker starts it.
	Request *messages.ExecuteRequest
	// Budget is the time one run may take, from its start.
	Budget     time.Duration
	WebhookURL string
	// IdempotencyKey, when set, makes a repeated submission with the same
	// key return the first one's id.
	IdempotencyKey string
	// Kind, Meta and Retention are Record's (a compatible API's jobs).
	Kind      string
	Meta      []byte
	Retention time.Duration
}

// Status is what a client may read of a job.
type Status struct {
	ID    string
	State State
	// Progress, while a submission runs, is how many of its tests have
	// finished out of how many; nil otherwise.
	Progress   *Progress
	CreatedAt  time.Time
	FinishedAt time.Time // zero until done
	Result     []byte    // set when done
	Error      string    // set when done without a verdict
	Webhook    *Delivery // nil without a webhook
	Kind       string
	Meta       []byte
}

// Stats are counters for metrics.
type Stats struct {
	Queued, Running                     int
	Delivered, GaveUp, FailedDeliveries int64
}

// Manager owns the store, the workers, the deliverers and the janitor.
type Manager struct {
	opts  Options
	log   logrus.FieldLogger
	store *store
	hooks *hookClient

	jobs       *fifo // queued job ids
	deliveries *fifo // ids whose webhook attempt is due

	mu         sync.Mutex
	pending    int             // jobs not done (queued or running)
	delivering map[string]bool // ids a deliverer is working on
	hosts      map[string]int  // deliveries in flight per receiver host

	running                             atomic.Int64
	delivered, gaveUp, failedDeliveries atomic.Int64

	progressMu sync.Mutex
	progress   map[string]Progress // of running submissions, by id

	cancel context.CancelFunc
	wg     sync.WaitGroup
	timers sync.WaitGroup // delayed pushes still pending
}

// Open opens (or creates) the store and recovers its jobs; nothing runs
// until Start.
func Open(opts Options) (*Manager, error) {
	if opts.Render == nil {
		return nil, errors.New("async: Options.Render is required")
	}
	if opts.Workers < 1 || opts.QueueLength < 1 {
		return nil, fmt.Errorf("async: need at least 1 worker and queue length 1, got %d and %d", opts.Workers, opts.QueueLength)
	}
	if opts.Deliverers <= 0 {
		opts.Deliverers = 64
	}
	if opts.PerHost <= 0 {
		opts.PerHost = 4
	}
	if opts.BusyBackoff <= 0 {
		opts.BusyBackoff = 250 * time.Millisecond
	}
	if opts.MaxRuns <= 0 {
		opts.MaxRuns = 3
	}
	if opts.Logger == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		opts.Logger = l
	}
	st, err := openStore(opts.StorePath, opts.ResultTTL)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		opts:       opts,
		log:        opts.Logger,
		store:      st,
		hooks:      newHookClient(opts.Webhook, opts.Deliverers),
		jobs:       newFIFO(),
		deliveries: newFIFO(),
		delivering: map[string]bool{},
		hosts:      map[string]int{},
		progress:   map[string]Progress{},
	}
	all, err := st.restore()
	if err != nil {
		st.close()
		return nil, err
	}
	var queued, undelivered int
	for _, r := range all {
		switch {
		case r.State != StateDone:
			m.pending++
			queued++
			m.jobs.push(r.ID)
		case r.Webhook != nil && r.Webhook.State == DeliveryPending:
			undelivered++
			m.deliveries.push(r.ID) // the deliverer waits for NextAttempt
		}
	}
	m.log.WithFields(logrus.Fields{"store": opts.StorePath, "jobs": len(all), "queued": queued, "undelivered": undelivered}).Info("async store opened")
	return m, nil
}

// Start runs the workers, deliverers and janitor until Stop.
func (m *Manager) Start(exec Executor) {
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	for range m.opts.Workers {
		m.wg.Go(func() { m.work(ctx, exec) })
	}
	for range m.opts.Deliverers {
		m.wg.Go(func() { m.deliverLoop(ctx) })
	}
	m.wg.Go(func() { m.janitor(ctx) })
}

// Stop stops taking jobs off the queue, abandons running ones (they stay
// in the store and run again at the next start), waits for the
// goroutines until ctx ends, and closes the store.
func (m *Manager) Stop(ctx context.Context) error {
	if m.cancel != nil {
		m.cancel()
	}
	done := make(chan struct{})
	go func() { m.wg.Wait(); m.timers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("async: stop: %w", ctx.Err())
	}
	m.hooks.close()
	if err := m.store.close(); err != nil {
		return fmt.Errorf("async: close store: %w", err)
	}
	return nil
}

// Submit stores a job and queues it. It returns the job's id: the id of
// an earlier job when the idempotency key is known, else the new job's.
// ErrQueueFull and ErrBadWebhook are the client's errors.
func (m *Manager) Submit(ctx context.Context, j Job) (string, error) {
	if j.Request == nil || j.Budget <= 0 {
		return "", errors.New("async: a job needs a request and a positive budget")
	}
	if j.WebhookURL != "" {
		if err := CheckWebhookURL(j.WebhookURL, m.opts.Webhook.AllowPrivate); err != nil {
			return "", err
		}
	}
	req := proto.Clone(j.Request).(*messages.ExecuteRequest)
	if req.RequestId == "" {
		req.RequestId = uuid.NewString()
	}
	// The deadline starts when a worker starts the job (queue wait is not
	// the job's), so none is stored.
	req.DeadlineUnixMs = 0
	b, err := proto.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("async: marshal request: %w", err)
	}
	rec := &Record{
		ID:             req.RequestId,
		State:          StateQueued,
		Request:        b,
		Budget:         j.Budget,
		WebhookURL:     j.WebhookURL,
		IdempotencyKey: j.IdempotencyKey,
		CreatedAt:      time.Now().UTC(),
		Kind:           j.Kind,
		Meta:           j.Meta,
		Retention:      j.Retention,
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	m.mu.Lock()
	existing, err := m.store.create(rec, func() error {
		if m.pending >= m.opts.QueueLength {
			return ErrQueueFull
		}
		return nil
	})
	if err == nil && existing == "" {
		m.pending++
	}
	m.mu.Unlock()
	switch {
	case errors.Is(err, ErrQueueFull):
		return "", ErrQueueFull
	case err != nil:
		return "", fmt.Errorf("async: store job: %w", err)
	case existing != "":
		m.log.WithFields(logrus.Fields{"request_id": existing, "idempotency_key": j.IdempotencyKey}).Debug("async job resubmitted")
		return existing, nil
	}
	m.jobs.push(rec.ID)
	m.log.WithFields(logrus.Fields{"request_id": rec.ID, "language": req.Language, "webhook": j.WebhookURL != ""}).Debug("async job queued")
	return rec.ID, nil
}

// Result reads a job's state; ErrNotFound for an unknown or expired id.
func (m *Manager) Result(_ context.Context, id string) (*Status, error) {
	r, err := m.store.get(id)
	if err != nil {
		return nil, err
	}
	st := &Status{
		ID: r.ID, State: r.State, CreatedAt: r.CreatedAt, FinishedAt: r.FinishedAt,
		Result: r.Result, Error: r.Error, Webhook: r.Webhook, Kind: r.Kind, Meta: r.Meta,
	}
	if r.State == StateRunning {
		st.Progress = m.progressOf(id)
	}
	return st, nil
}

// Progress is how far a running submission is: how many of its tests
// have finished of how many, and their results in the order they
// finished.
type Progress struct {
	Done, Total int
	Tests       []*messages.TestResult
}

// ProgressExecutor is an Executor that tells of a submission's tests as
// their results arrive (finished of total), so a running job's status
// can say how far it is.
type ProgressExecutor interface {
	ExecuteWithProgress(ctx context.Context, req *messages.ExecuteRequest, progress func(t *messages.TestResult, finished, total int)) (*messages.ExecuteResponse, error)
}

// addProgress records that done of total tests of job id have finished,
// the last of them t (nil before the first).
func (m *Manager) addProgress(id string, t *messages.TestResult, done, total int) {
	m.progressMu.Lock()
	defer m.progressMu.Unlock()
	p := m.progress[id]
	p.Done, p.Total = done, total
	if t != nil {
		p.Tests = append(p.Tests, t)
	}
	m.progress[id] = p
}

func (m *Manager) clearProgress(id string) {
	m.progressMu.Lock()
	defer m.progressMu.Unlock()
	delete(m.progress, id)
}

func (m *Manager) progressOf(id string) *Progress {
	m.progressMu.Lock()
	defer m.progressMu.Unlock()
	if p, ok := m.progress[id]; ok {
		p.Tests = append([]*messages.TestResult(nil), p.Tests...)
		return &p
	}
	return nil
}

// Stats reads the counters.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	pending := m.pending
	m.mu.Unlock()
	running := int(m.running.Load())
	return Stats{
		Queued:           max(0, pending-running),
		Running:          running,
		Delivered:        m.delivered.Load(),
		GaveUp:           m.gaveUp.Load(),
		FailedDeliveries: m.failedDeliveries.Load(),
	}
}

// after pushes id onto q once d has passed, unless ctx ends first.
func (m *Manager) after(ctx context.Context, d time.Duration, q *fifo, id string) {
	m.timers.Go(func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			q.push(id)
		case <-ctx.Done():
		}
	})
}
