package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
)

// Routes adds the routes of a compatible API (http/judge0, http/piston)
// to a router. They sit behind the app's middleware (logging, recovery,
// CORS, tokens, the body limit) and reach the judging machinery only
// through the Engine, so they convert and call and decide nothing.
type Routes func(r fiber.Router, e *Engine)

// Engine is what a compatible API calls: the native API's validation,
// budgets, judging and async queue, so that a request in another API's
// shape is judged exactly as the same request in the native one.
type Engine struct{ s *server }

// Request is a judge-single request in the native API's fields (README
// "Using it"); a compatible API translates its own request into one. A
// nil limit takes the native default.
type Request struct {
	Language      string   `json:"language"`
	Code          string   `json:"code,omitempty"`
	Files         []File   `json:"files,omitempty"`
	Stdin         string   `json:"stdin,omitempty"`
	DesiredStdout string   `json:"desired_stdout,omitempty"`
	Checker       string   `json:"checker,omitempty"`
	TimeLimit     *float64 `json:"time_limit,omitempty"`
	WallTimeLimit *float64 `json:"wall_time_limit,omitempty"`
	MemoryLimit   *float64 `json:"memory_limit,omitempty"`
}

// File is one source file of a Request; Encoding is utf8 or base64.
type File struct {
	Name     string `json:"name"`
	Content  string `json:"content"`
	Encoding string `json:"encoding,omitempty"`
}

// InvalidError is a request the native validation refused: Field is the
// native field it names ("" when none), Message the rest of the reason.
type InvalidError struct {
	Field   string
	Message string
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return fmt.Sprintf("field %q %s", e.Field, e.Message)
}

// fieldPrefix is how the native validation's messages start when they
// name a field: `field "time_limit" must be ...`, `field "files[2].name": ...`.
var fieldPrefix = regexp.MustCompile(`^field "([a-z_]+)[^"]*":? `)

// invalid splits a native validation message into an InvalidError.
func invalid(err error) *InvalidError {
	msg := err.Error()
	if m := fieldPrefix.FindStringSubmatch(msg); m != nil {
		return &InvalidError{Field: m[1], Message: msg[len(m[0]):]}
	}
	return &InvalidError{Message: msg}
}

// Prepare validates r as judge-single would and returns the request to
// judge, with a new request id, and the time it may take once started.
// A refusal is an *InvalidError.
func (e *Engine) Prepare(r Request) (*messages.ExecuteRequest, time.Duration, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, 0, fmt.Errorf("encode request: %w", err)
	}
	jr, err := decodeRequest(body, e.s.opts.Limits, e.s.langs)
	if err != nil {
		return nil, 0, invalid(err)
	}
	req, budget := e.s.executeRequest(jr, uuid.NewString())
	return req, budget, nil
}

// Judge judges req within budget, as judge-single does. When it was not
// judged the error is the *fiber.Error the native API answers (503 with
// Retry-After set on c, 504, 500).
func (e *Engine) Judge(c *fiber.Ctx, req *messages.ExecuteRequest, budget time.Duration) (*messages.ExecuteResponse, error) {
	return e.s.judgeWithin(c, req, budget, req.Language)
}

// ErrAsyncDisabled is Submit's and Result's error on a server without an
// async queue.
var ErrAsyncDisabled = errors.New("asynchronous judging is not enabled on this server")

// Submit queues job on the async queue (ErrAsyncFull, ErrAsyncInvalid and
// ErrAsyncDisabled are the client's errors).
func (e *Engine) Submit(ctx context.Context, job AsyncJob) (string, error) {
	if e.s.opts.Async == nil {
		return "", ErrAsyncDisabled
	}
	return e.s.opts.Async.Submit(ctx, job, "")
}

// Result reads an async job (ErrAsyncNotFound for an unknown one).
func (e *Engine) Result(ctx context.Context, id string) (*AsyncResult, error) {
	if e.s.opts.Async == nil {
		return nil, ErrAsyncDisabled
	}
	return e.s.opts.Async.Result(ctx, id)
}

// CheckWebhookURL validates a webhook address as webhook_url is.
func (e *Engine) CheckWebhookURL(u string) error {
	raw, err := json.Marshal(u)
	if err != nil {
		return err
	}
	_, err = webhookURLField(map[string]json.RawMessage{"webhook_url": raw})
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), `field "webhook_url" `))
	}
	return nil
}

// Status reports the sandbox pool.
func (e *Engine) Status(ctx context.Context) (*messages.PoolStatus, error) {
	return e.s.judge.Status(ctx)
}

// Languages is the language registry.
func (e *Engine) Languages() *languages.Registry { return e.s.langs }

// Limits are the bounds requests are validated against.
func (e *Engine) Limits() config.Limits { return e.s.opts.Limits }

// WebhookTimeout is how long one webhook attempt may take (0: unknown).
func (e *Engine) WebhookTimeout() time.Duration { return e.s.opts.WebhookTimeout }

// QueueLength is how many async jobs may wait (0: unknown).
func (e *Engine) QueueLength() int { return e.s.opts.AsyncQueueLength }

// Version is the server's version string.
func (e *Engine) Version() string { return e.s.opts.Version }

// Log is the HTTP layer's logger.
func (e *Engine) Log() logrus.FieldLogger { return e.s.log }

// SetRequestID names the request in the request log.
func SetRequestID(c *fiber.Ctx, id string) { c.Locals(localRequestID, id) }
