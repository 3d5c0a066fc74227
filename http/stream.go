package http

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/actors"
	"github.com/pecan-judge/pecan/messages"
)

// ProgressJudge is a Judge that tells of a submission's tests as their
// results arrive; POST /v1/judge/submission streams them to clients that
// accept text/event-stream.
type ProgressJudge interface {
	ExecuteWithProgress(ctx context.Context, req *messages.ExecuteRequest, progress actors.Progress) (*messages.ExecuteResponse, error)
}

const mimeEventStream = "text/event-stream"

// wantsEventStream reports whether the Accept header names
// text/event-stream.
func wantsEventStream(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && strings.EqualFold(mt, mimeEventStream) {
			return true
		}
	}
	return false
}

// testEvent is the data of a "test" event: the test's result, and how
// many of the submission's tests have finished.
type testEvent struct {
	testResponse
	TestsDone  int `json:"tests_done"`
	TestsTotal int `json:"tests_total"`
}

// progressQueue hands a submission's progress from the judge's goroutine
// to the stream writer without ever blocking the judge.
type progressQueue struct {
	mu     sync.Mutex
	events []testEvent
	ready  chan struct{} // has a value when events is not empty
}

func newProgressQueue() *progressQueue { return &progressQueue{ready: make(chan struct{}, 1)} }

func (q *progressQueue) push(t *messages.TestResult, done, total int) {
	if t == nil {
		return // the tests are known; nothing finished yet
	}
	q.mu.Lock()
	q.events = append(q.events, testEvent{testResponse: renderTest(t, t.GetHasScore()), TestsDone: done, TestsTotal: total})
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *progressQueue) take() []testEvent {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.events
	q.events = nil
	return out
}

// streamSubmission judges req and answers with server-sent events: one
// "test" event per test as its result arrives, in the order they finish,
// then one "result" event with the whole answer (what the JSON answer
// would be), or one "error" event with the error and the HTTP status it
// would have had.
func (s *server) streamSubmission(c *fiber.Ctx, req *messages.ExecuteRequest, budget time.Duration, language string) error {
	pj, ok := s.judge.(ProgressJudge)
	if !ok {
		return fiber.NewError(fiber.StatusNotAcceptable, "this server cannot stream a submission's progress; accept application/json")
	}
	id := req.RequestId
	c.Locals(localRequestID, id)
	deadline := time.Now().Add(budget)
	req.DeadlineUnixMs = deadline.UnixMilli()
	log := s.log.WithFields(logrus.Fields{"request_id": id, "language": language})

	c.Set(fiber.HeaderContentType, mimeEventStream)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no") // proxies must pass events on at once
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		// The handler has returned by now: its context is gone.
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		q := newProgressQueue()
		type result struct {
			resp *messages.ExecuteResponse
			err  error
		}
		done := make(chan result, 1)
		start := time.Now()
		go func() {
			resp, err := s.executeWith(ctx, req, func(ctx context.Context, r *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
				return pj.ExecuteWithProgress(ctx, r, q.push)
			})
			done <- result{resp, err}
		}()
		for {
			select {
			case <-q.ready:
				if err := writeTests(w, q.take()); err != nil {
					log.WithError(err).Info("event stream closed by the client")
					return
				}
			case r := <-done:
				// Every test event was queued before the answer.
				if err := writeTests(w, q.take()); err != nil {
					return
				}
				s.writeOutcome(w, r.resp, r.err, budget, id, language, start, log)
				return
			}
		}
	})
	return nil
}

func writeTests(w *bufio.Writer, events []testEvent) error {
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		writeEvent(w, "test", b)
	}
	return w.Flush()
}

// writeOutcome writes the final event: the answer, or the error.
func (s *server) writeOutcome(w *bufio.Writer, resp *messages.ExecuteResponse, err error, budget time.Duration, id, language string, start time.Time, log logrus.FieldLogger) {
	if ferr := s.judged(nil, resp, err, budget, log); ferr != nil {
		writeError(w, ferr)
		return
	}
	s.metrics.jobs.WithLabelValues(language, resp.Status).Inc()
	s.metrics.latency.WithLabelValues(language).Observe(time.Since(start).Seconds())
	body, rerr := renderAnswer(resp, id)
	if rerr != nil {
		log.WithError(rerr).Error("render the result")
		writeError(w, errInternal)
		return
	}
	writeEvent(w, "result", body)
	w.Flush()
}

func writeError(w *bufio.Writer, err error) {
	status, msg := fiber.StatusInternalServerError, err.Error()
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status, msg = fe.Code, fe.Message
	}
	b, _ := json.Marshal(map[string]any{"error": msg, "status": status})
	writeEvent(w, "error", b)
	w.Flush()
}

// writeEvent writes one server-sent event; data is JSON, one line.
func writeEvent(w *bufio.Writer, name string, data []byte) {
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
}
