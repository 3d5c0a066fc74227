package http

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/messages"
	"github.com/pecan-judge/pecan/plan"
)

// localRequestID is the fiber.Ctx local under which the request id is
// kept for the request log.
const localRequestID = "pecan.request_id"

// judgeResponse is the judge-single answer (DESIGN §3). The first six
// fields are the original API's; the rest are additive.
//
// Each stream is sent in one encoding only. JSON strings hold only UTF-8,
// so output that is valid UTF-8 is in stdout (stderr) and the base64 field
// is absent; output that is not has stdout "" and its exact bytes in
// stdout_base64. Either way it is at most [limits] response_output_kib,
// and stdout_truncated (stderr_truncated) says the program wrote more.
type judgeResponse struct {
	Code            int32   `json:"code"`
	Status          string  `json:"status"`
	Stdout          string  `json:"stdout"`
	Stderr          string  `json:"stderr"`
	Time            float64 `json:"time"`
	Memory          int64   `json:"memory"`
	WallTime        float64 `json:"wall_time"`
	ExitCode        int32   `json:"exit_code"`
	Signal          int32   `json:"signal"`
	CompileOutput   string  `json:"compile_output"`
	Sandbox         string  `json:"sandbox"`
	Node            string  `json:"node"`
	RequestID       string  `json:"request_id"`
	StdoutBase64    string  `json:"stdout_base64,omitempty"`
	StderrBase64    string  `json:"stderr_base64,omitempty"`
	StdoutTruncated bool    `json:"stdout_truncated"`
	StderrTruncated bool    `json:"stderr_truncated"`
}

// encodeOutput is a stream's text and base64 fields: the text when b is
// valid UTF-8, else the base64 of the exact bytes, never both.
func encodeOutput(b []byte) (text, exact string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return "", base64.StdEncoding.EncodeToString(b)
}

// judgeSingle handles POST /v1/judge/judge-single.
func (s *server) judgeSingle(c *fiber.Ctx) error {
	if err := requireJSON(c.Get(fiber.HeaderContentType)); err != nil {
		return err
	}
	jr, err := decodeRequest(c.Body(), s.opts.Limits, s.langs)
	if err != nil {
		return badRequest(err.Error())
	}

	id := uuid.NewString()
	req, budget := s.executeRequest(jr, id)
	return s.judgeAndAnswer(c, req, budget, jr.Language.ID)
}

// judgeAndAnswer runs req with budget as its deadline and answers with its
// result (RenderResult), or with the error that kept it from being judged.
func (s *server) judgeAndAnswer(c *fiber.Ctx, req *messages.ExecuteRequest, budget time.Duration, language string) error {
	resp, err := s.judgeWithin(c, req, budget, language)
	if err != nil {
		return err
	}
	body, err := renderAnswer(resp, req.RequestId)
	if err != nil {
		s.log.WithError(err).WithField("request_id", req.RequestId).Error("render the result")
		return errInternal
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}

// judgeWithin runs req with budget as its deadline and returns its judged
// response, or the *fiber.Error the client gets when it was not judged
// (503 with Retry-After, 504, 500).
func (s *server) judgeWithin(c *fiber.Ctx, req *messages.ExecuteRequest, budget time.Duration, language string) (*messages.ExecuteResponse, error) {
	id := req.RequestId
	c.Locals(localRequestID, id)
	deadline := time.Now().Add(budget)
	req.DeadlineUnixMs = deadline.UnixMilli()
	ctx, cancel := context.WithDeadline(c.UserContext(), deadline)
	defer cancel()

	log := s.log.WithFields(logrus.Fields{"request_id": id, "language": language})
	start := time.Now()
	resp, err := s.execute(ctx, req)
	if err := s.judged(c, resp, err, budget, log); err != nil {
		return nil, err
	}
	s.metrics.jobs.WithLabelValues(language, resp.Status).Inc()
	s.metrics.latency.WithLabelValues(language).Observe(time.Since(start).Seconds())
	return resp, nil
}

// judged turns what the Judge returned into the HTTP error a client sees
// when it is not a verdict (nil when it is), counting it, and sets
// Retry-After on c for a busy pool.
func (s *server) judged(c *fiber.Ctx, resp *messages.ExecuteResponse, err error, budget time.Duration, log logrus.FieldLogger) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		s.metrics.failures.WithLabelValues("timeout").Inc()
		log.WithError(err).Warn("judge did not answer before the deadline")
		return fiber.NewError(fiber.StatusGatewayTimeout, fmt.Sprintf("no result within %s", budget.Round(time.Second)))
	case err != nil:
		s.metrics.failures.WithLabelValues("internal").Inc()
		log.WithError(err).Error("judge failed")
		return errInternal
	case resp == nil:
		log.Error("judge returned neither a response nor an error")
		return errInternal
	}

	switch resp.Failure {
	case messages.Failure_FAILURE_NONE:
		return nil
	case messages.Failure_FAILURE_BUSY:
		s.metrics.failures.WithLabelValues("busy").Inc()
		if c != nil {
			c.Set(fiber.HeaderRetryAfter, retryAfterSeconds)
		}
		return fiber.NewError(fiber.StatusServiceUnavailable, orDefault(resp.Error, "all sandboxes are busy and the queue is full; retry later"))
	default: // FAILURE_INTERNAL, and anything newer we do not know
		s.metrics.failures.WithLabelValues("internal").Inc()
		log.WithField("failure", resp.Failure.String()).WithField("error", resp.Error).Error("job not judged")
		return fiber.NewError(fiber.StatusInternalServerError, orDefault(resp.Error, "the job could not be judged"))
	}
}

// executeRequest builds the ExecuteRequest of a validated request, shared
// by judge-single and judge-single-async, and the time the job may take
// once it is started: the wait for a sandbox, the compile and the run,
// plus slack. The caller sets the deadline (async jobs only when a worker
// starts them).
func (s *server) executeRequest(jr *judgeRequest, id string) (*messages.ExecuteRequest, time.Duration) {
	req := &messages.ExecuteRequest{
		RequestId: id,
		Language:  jr.Language.ID,
		// Copies: fasthttp reuses the body buffer once the handler returns,
		// and the request may outlive it in a queue or on another node.
		Code:          []byte(jr.Code),
		Files:         jr.Files, // decoded into fresh buffers
		Stdin:         []byte(jr.Stdin),
		DesiredStdout: []byte(jr.DesiredStdout),
		Checker:       jr.Checker,
		Limits: &messages.Limits{
			CpuSeconds:  jr.CPUSeconds,
			WallSeconds: jr.WallSeconds,
			MemoryKib:   jr.MemoryKiB,
		},
	}
	return req, plan.Budget(jr.Language, req, s.opts.Limits, s.opts.QueueTimeout)
}

// RenderResult is the JSON a client receives for a judged job: the
// judge-single answer, the "res" of an async webhook and of a polled
// result, all from this one mapping. A response with Failure set (an async
// job that could not be judged) renders as the error body {"error": ...}.
func RenderResult(resp *messages.ExecuteResponse) ([]byte, error) {
	if resp.Failure != messages.Failure_FAILURE_NONE {
		return json.Marshal(errorBody{Error: orDefault(resp.Error, "the job could not be judged")})
	}
	return renderAnswer(resp, resp.RequestId)
}

// renderAnswer is a judged response's JSON: a submission's or a
// judge-single's.
func renderAnswer(resp *messages.ExecuteResponse, id string) ([]byte, error) {
	if resp.Submission {
		return renderSubmission(resp, id)
	}
	return renderResult(resp, id)
}

// renderResult maps a judged response to judgeResponse JSON; id stands in
// for a response that does not carry its request id.
func renderResult(resp *messages.ExecuteResponse, id string) ([]byte, error) {
	stdout, stdout64 := encodeOutput(resp.Stdout)
	stderr, stderr64 := encodeOutput(resp.Stderr)
	return json.Marshal(judgeResponse{
		Code:            resp.Code,
		Status:          resp.Status,
		Stdout:          stdout,
		Stderr:          stderr,
		Time:            resp.Time,
		Memory:          resp.MemoryKib,
		WallTime:        resp.WallTime,
		ExitCode:        resp.ExitCode,
		Signal:          resp.Signal,
		CompileOutput:   resp.CompileOutput,
		Sandbox:         resp.Sandbox,
		Node:            resp.Node,
		RequestID:       orDefault(resp.RequestId, id),
		StdoutBase64:    stdout64,
		StderrBase64:    stderr64,
		StdoutTruncated: resp.StdoutTruncated,
		StderrTruncated: resp.StderrTruncated,
	})
}

// execute calls the Judge but stops waiting at ctx's deadline even if the
// Judge does not honour ctx, so a stuck pool never pins a handler forever.
// A panic in the Judge is caught here too, because it runs on its own
// goroutine where the recover middleware cannot see it.
func (s *server) execute(ctx context.Context, req *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
	return s.executeWith(ctx, req, s.judge.Execute)
}

// executeWith is execute through call, a Judge's method.
func (s *server) executeWith(ctx context.Context, req *messages.ExecuteRequest, call func(context.Context, *messages.ExecuteRequest) (*messages.ExecuteResponse, error)) (*messages.ExecuteResponse, error) {
	type result struct {
		resp *messages.ExecuteResponse
		err  error
	}
	done := make(chan result, 1) // buffered: a late Judge must not block forever
	go func() {
		defer func() {
			if r := recover(); r != nil {
				s.log.WithFields(logrus.Fields{
					"request_id": req.RequestId,
					"panic":      fmt.Sprint(r),
				}).Error("panic in Judge.Execute")
				done <- result{err: fmt.Errorf("judge panicked: %v", r)}
			}
		}()
		resp, err := call(ctx, req)
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// requireJSON accepts application/json with any parameters (charset=utf-8
// is common); anything else is 415, so a form post fails loudly instead of
// being misread.
func requireJSON(contentType string) error {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.EqualFold(mt, fiber.MIMEApplicationJSON) {
		return fiber.NewError(fiber.StatusUnsupportedMediaType,
			fmt.Sprintf("Content-Type must be application/json, got %q", contentType))
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
