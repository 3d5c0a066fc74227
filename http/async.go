package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/messages"
)

// Async is the asynchronous judging queue behind judge-single-async and
// the result endpoint. The handlers validate and build the job; the queue
// stores, runs and delivers it.
type Async interface {
	// Submit accepts a job and returns its request id: the id of the
	// earlier job when idempotencyKey (may be "") was seen before.
	// ErrAsyncFull and ErrAsyncInvalid (wrapped) are the client's errors.
	Submit(ctx context.Context, job AsyncJob, idempotencyKey string) (string, error)
	// Result reads a job; ErrAsyncNotFound for an unknown or expired id.
	Result(ctx context.Context, id string) (*AsyncResult, error)
	// Stats are read at every /metrics scrape.
	Stats() AsyncStats
}

// Errors an Async returns for the client to see.
var (
	ErrAsyncFull     = errors.New("the async queue is full")
	ErrAsyncNotFound = errors.New("no such async job")
	ErrAsyncInvalid  = errors.New("invalid async request")
)

// AsyncJob is a validated async submission.
type AsyncJob struct {
	// Request has no deadline: it is set when the job starts.
	Request *messages.ExecuteRequest
	// Budget is the time the job may take from its start.
	Budget     time.Duration
	WebhookURL string
	// Kind, Meta and Retention serve the compatible APIs: the kind that
	// renders the job and its webhook, the API's own data kept with it,
	// and how long it is kept once final (0: result_ttl).
	Kind      string
	Meta      []byte
	Retention time.Duration
}

// AsyncResult is the GET /v1/judge/result/{request_id} answer.
type AsyncResult struct {
	RequestID string `json:"request_id"`
	// State is queued, running or done.
	State      string     `json:"state"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Res is the judge-single answer once done (RenderResult), or
	// {"error": ...} for a job that could not be judged.
	Res json.RawMessage `json:"res,omitempty"`
	// TestsDone and TestsTotal say, while a submission runs, how many of
	// its tests have finished out of how many.
	TestsDone  *int `json:"tests_done,omitempty"`
	TestsTotal *int `json:"tests_total,omitempty"`
	// Error is set, besides res, when the job could not be judged.
	Error   string         `json:"error,omitempty"`
	Webhook *WebhookStatus `json:"webhook,omitempty"`
	// Kind and Meta are AsyncJob's, for the API that submitted it.
	Kind string `json:"-"`
	Meta []byte `json:"-"`
	// Progress is what is known of a submission not done yet: the tests
	// decided so far, in order, rendered as "tests".
	Progress []*messages.TestResult `json:"-"`
}

// asyncResultBody is the JSON of an AsyncResult.
type asyncResultBody struct {
	*AsyncResult
	Tests []testResponse `json:"tests,omitempty"`
}

// WebhookStatus is the delivery state of a job's webhook.
type WebhookStatus struct {
	// State is pending, delivered or gave_up.
	State     string `json:"state"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error,omitempty"`
}

// AsyncStats feed the async series of /metrics.
type AsyncStats struct {
	Queued, Running                     int
	Delivered, GaveUp, FailedDeliveries int64
}

// maxIdempotencyKey bounds the Idempotency-Key header; keys are stored.
const maxIdempotencyKey = 255

// asyncAccepted is the answer to an accepted async submission.
type asyncAccepted struct {
	RequestID string `json:"request_id"`
}

// judgeSingleAsync handles POST /v1/judge/judge-single-async: the request
// is validated exactly like judge-single's (a bad one is refused here and
// creates no job), then queued.
func (s *server) judgeSingleAsync(c *fiber.Ctx) error {
	key, err := s.asyncPreamble(c)
	if err != nil {
		return err
	}
	raw, err := parseObject(c.Body())
	if err != nil {
		return badRequest(err.Error())
	}
	jr, err := requestFromFields(raw, s.opts.Limits, s.langs)
	if err != nil {
		return badRequest(err.Error())
	}
	req, budget := s.executeRequest(jr, uuid.NewString())
	return s.queueAsync(c, raw, key, req, budget)
}

// queueAsync queues a validated request with the webhook the body names
// and answers its request id.
func (s *server) queueAsync(c *fiber.Ctx, raw map[string]json.RawMessage, key string, req *messages.ExecuteRequest, budget time.Duration) error {
	hook, err := webhookURLField(raw)
	if err != nil {
		return badRequest(err.Error())
	}
	id, err := s.opts.Async.Submit(c.UserContext(), AsyncJob{Request: req, Budget: budget, WebhookURL: hook}, key)
	log := s.log.WithFields(logrus.Fields{"request_id": id, "language": req.Language})
	switch {
	case errors.Is(err, ErrAsyncFull):
		s.metrics.failures.WithLabelValues("async_full").Inc()
		c.Set(fiber.HeaderRetryAfter, retryAfterSeconds)
		return fiber.NewError(fiber.StatusServiceUnavailable, "the async queue is full; retry later")
	case errors.Is(err, ErrAsyncInvalid):
		return badRequest(err.Error())
	case err != nil:
		log.WithError(err).Error("async submit failed")
		return errInternal
	}
	c.Locals(localRequestID, id)
	return c.JSON(asyncAccepted{RequestID: id})
}

// asyncPreamble checks what every async submission needs before its body
// is read, and returns its idempotency key.
func (s *server) asyncPreamble(c *fiber.Ctx) (string, error) {
	if s.opts.Async == nil {
		return "", fiber.NewError(fiber.StatusServiceUnavailable, "asynchronous judging is not enabled on this server")
	}
	if err := requireJSON(c.Get(fiber.HeaderContentType)); err != nil {
		return "", err
	}
	key := c.Get("Idempotency-Key")
	if err := checkIdempotencyKey(key); err != nil {
		return "", badRequest(err.Error())
	}
	return key, nil
}

// checkIdempotencyKey accepts keys of printable ASCII up to
// maxIdempotencyKey bytes (a UUID or "contest/submission" style id).
func checkIdempotencyKey(k string) error {
	if len(k) > maxIdempotencyKey {
		return fmt.Errorf("Idempotency-Key is %d bytes, over the limit of %d", len(k), maxIdempotencyKey)
	}
	for _, r := range k {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return errors.New("Idempotency-Key must be printable ASCII")
		}
	}
	return nil
}

// asyncResult handles GET /v1/judge/result/{request_id}.
func (s *server) asyncResult(c *fiber.Ctx) error {
	if s.opts.Async == nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "asynchronous judging is not enabled on this server")
	}
	// A copy: fiber's params point into the reused request buffer.
	id := string([]byte(c.Params("request_id")))
	res, err := s.opts.Async.Result(c.UserContext(), id)
	if err == nil && res.Kind != "" {
		// Another API's job (a Judge0 submission): read it there.
		err = ErrAsyncNotFound
	}
	switch {
	case errors.Is(err, ErrAsyncNotFound):
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("no async job %q (never submitted, or its result expired)", truncate(id, 80)))
	case err != nil:
		s.log.WithError(err).WithField("request_id", id).Error("async result lookup failed")
		return errInternal
	}
	body := asyncResultBody{AsyncResult: res}
	for _, t := range res.Progress {
		body.Tests = append(body.Tests, renderTest(t, false))
	}
	return c.JSON(body)
}
