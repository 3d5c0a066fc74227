// Package judge0 is the Judge0 CE 1.13.1 compatible API (DESIGN §11): a
// thin transport that turns Judge0's requests into the native API's calls
// (through pecanhttp.Engine) and their answers back into Judge0's shapes,
// so Judge0's clients (the Python SDK, judge0-client, the IDE) work
// against Pecan unchanged. What it converts: the request's fields and
// base64, the verdict into Judge0's status ids, Judge0's field selection,
// datetime and decimal formats. What it does not decide: limits, budgets
// and verdicts are the native API's. Submissions are async jobs of kind
// Kind, kept in the async store for Options.Retention.
package judge0

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/pecan-judge/pecan/config"
	pecanhttp "github.com/pecan-judge/pecan/http"
	"github.com/pecan-judge/pecan/messages"
)

// Version is the Judge0 version reported by /about: the Python SDK picks
// its language table by it and knows only 1.13.1 and 1.14.0.
const Version = "1.13.1"

// Kind is the async job kind of Judge0 submissions.
const Kind = "judge0"

// maxBatch is max_submission_batch_size.
const maxBatch = 20

// callbackTries is how many times a callback is sent, as Judge0 does.
const callbackTries = 3

// CallbackMethod is the HTTP method of a callback: Judge0 sends PUT.
const CallbackMethod = fiber.MethodPut

// Options configure the API.
type Options struct {
	// Retention is how long a finished submission is kept.
	Retention time.Duration
}

// api carries what the handlers share.
type api struct {
	e    *pecanhttp.Engine
	opts Options
}

// Routes mounts the API under prefix ("" for the root).
func Routes(prefix string, opts Options) pecanhttp.Routes {
	return func(r fiber.Router, e *pecanhttp.Engine) {
		a := &api{e: e, opts: opts}
		g := r.Group(prefix)
		g.Post("/submissions/batch", a.createBatch)
		g.Get("/submissions/batch", a.getBatch)
		g.Post("/submissions", a.create)
		g.Get("/submissions/:token", a.get)
		g.Get("/languages", a.languages)
		g.Get("/languages/:id", a.language)
		g.Get("/statuses", a.statuses)
		g.Get("/about", a.about)
		g.Get("/version", a.version)
		g.Get("/config_info", a.configInfo)
		g.Get("/workers", a.workers)
	}
}

// Render is the async Kind's Render: the stored submission of a judged
// job, from the queued one in meta.
func Render(resp *messages.ExecuteResponse, meta []byte) ([]byte, error) {
	var s submission
	if err := json.Unmarshal(meta, &s); err != nil {
		return nil, fmt.Errorf("judge0: stored submission: %w", err)
	}
	s.judged(resp, time.Now())
	return json.Marshal(&s)
}

// Callback is the async Kind's Webhook: the body Judge0 PUTs to
// callback_url, the default fields, base64-encoded.
func Callback(_ string, result []byte) ([]byte, error) {
	var s submission
	if err := json.Unmarshal(result, &s); err != nil {
		return nil, fmt.Errorf("judge0: stored submission: %w", err)
	}
	return s.marshalView(defaultFields, true)
}

// CallbackTries is the async Kind's MaxAttempts.
func CallbackTries() int { return callbackTries }

// query is what a request's query parameters ask: Judge0's booleans are
// true only as the exact string "true".
type query struct {
	b64, wait bool
	fields    []string
}

func parseQuery(c *fiber.Ctx) (query, error) {
	fields, err := parseFields(c.Query("fields"))
	if err != nil {
		return query{}, fiber.NewError(fiber.StatusBadRequest, err.Error())
	}
	return query{b64: c.Query("base64_encoded") == "true", wait: c.Query("wait") == "true", fields: fields}, nil
}

// prepared is a validated submission ready to judge or queue.
type prepared struct {
	sub    *submission
	req    *messages.ExecuteRequest
	budget time.Duration
}

// prepare validates one submission; errs is its 422 map.
func (a *api) prepare(raw json.RawMessage, b64 bool) (*prepared, fieldErrors) {
	in, errs := parseInput(raw, b64, a.e.Languages())
	if errs != nil {
		return nil, errs
	}
	l, _ := languageByID(a.e.Languages(), in.LanguageID)
	req, budget, err := a.e.Prepare(in.nativeRequest(l))
	if err != nil {
		return nil, fromInvalid(err)
	}
	if in.CallbackURL != "" {
		if err := a.e.CheckWebhookURL(in.CallbackURL); err != nil {
			return nil, fieldErrors{"callback_url": {err.Error()}}
		}
	}
	sub := newSubmission(req.RequestId, in, l, req, time.Now())
	sub.Fixed = a.e.Limits()
	return &prepared{sub: sub, req: req, budget: budget}, nil
}

// queue submits p to the async queue and returns its token; a refusal is
// an error for the client (a 503 or a 422 map).
func (a *api) queue(c *fiber.Ctx, p *prepared) (string, fieldErrors, error) {
	meta, err := json.Marshal(p.sub)
	if err != nil {
		return "", nil, fmt.Errorf("judge0: encode submission: %w", err)
	}
	id, err := a.e.Submit(c.UserContext(), pecanhttp.AsyncJob{
		Request: p.req, Budget: p.budget, WebhookURL: p.sub.CallbackURL,
		Kind: Kind, Meta: meta, Retention: a.opts.Retention,
	})
	switch {
	case errors.Is(err, pecanhttp.ErrAsyncFull):
		c.Set(fiber.HeaderRetryAfter, "1")
		return "", nil, fiber.NewError(fiber.StatusServiceUnavailable, "queue is full")
	case errors.Is(err, pecanhttp.ErrAsyncDisabled):
		return "", nil, fiber.NewError(fiber.StatusServiceUnavailable, err.Error())
	case errors.Is(err, pecanhttp.ErrAsyncInvalid):
		return "", fieldErrors{"callback_url": {err.Error()}}, nil
	case err != nil:
		a.e.Log().WithError(err).Error("judge0: queue submission")
		return "", nil, fiber.ErrInternalServerError
	}
	return id, nil, nil
}

// create handles POST /submissions.
func (a *api) create(c *fiber.Ctx) error {
	q, err := parseQuery(c)
	if err != nil {
		return err
	}
	p, errs := a.prepare(c.Body(), q.b64)
	if errs != nil {
		return c.Status(fiber.StatusUnprocessableEntity).JSON(errs)
	}
	pecanhttp.SetRequestID(c, p.req.RequestId)
	if q.wait {
		resp, err := a.e.Judge(c, p.req, p.budget)
		if err != nil {
			return err
		}
		p.sub.judged(resp, time.Now())
		return a.answer(c.Status(fiber.StatusCreated), p.sub, q)
	}
	token, errs, err := a.queue(c, p)
	if err != nil {
		return err
	}
	if errs != nil {
		return c.Status(fiber.StatusUnprocessableEntity).JSON(errs)
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"token": token})
}

// answer writes s's view as q asks.
func (a *api) answer(c *fiber.Ctx, s *submission, q query) error {
	body, err := s.marshalView(q.fields, q.b64)
	if errors.Is(err, errNotUTF8) {
		return fiber.NewError(fiber.StatusBadRequest, err.Error())
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}

// createBatch handles POST /submissions/batch.
func (a *api) createBatch(c *fiber.Ctx) error {
	q, err := parseQuery(c)
	if err != nil {
		return err
	}
	var body struct {
		Submissions []json.RawMessage `json:"submissions"`
	}
	if err := json.Unmarshal(c.Body(), &body); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, `body must be {"submissions": [...]}`)
	}
	if n := len(body.Submissions); n == 0 || n > maxBatch {
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("number of submissions in a batch must be between 1 and %d, got %d", maxBatch, n))
	}
	out := make([]any, len(body.Submissions))
	valid := 0
	for i, raw := range body.Submissions {
		p, errs := a.prepare(raw, q.b64)
		if errs == nil {
			var token string
			token, errs, err = a.queue(c, p)
			if err != nil {
				var fe *fiber.Error
				if !errors.As(err, &fe) || fe.Code != fiber.StatusServiceUnavailable {
					return err
				}
				out[i] = fiber.Map{"error": fe.Message}
				continue
			}
			if errs == nil {
				out[i] = fiber.Map{"token": token}
				valid++
				continue
			}
		}
		out[i] = errs
	}
	code := fiber.StatusCreated
	if valid == 0 {
		code = fiber.StatusUnprocessableEntity
	}
	return c.Status(code).JSON(out)
}

// errNoSubmission is the 404 of an unknown or expired token.
var errNoSubmission = fiber.NewError(fiber.StatusNotFound, "submission not found")

// load reads a stored submission: as judged once done, else as queued
// with its current status.
func (a *api) load(c *fiber.Ctx, token string) (*submission, error) {
	res, err := a.e.Result(c.UserContext(), token)
	switch {
	case errors.Is(err, pecanhttp.ErrAsyncNotFound):
		return nil, errNoSubmission
	case errors.Is(err, pecanhttp.ErrAsyncDisabled):
		return nil, fiber.NewError(fiber.StatusServiceUnavailable, err.Error())
	case err != nil:
		a.e.Log().WithError(err).WithField("token", token).Error("judge0: read submission")
		return nil, fiber.ErrInternalServerError
	case res.Kind != Kind:
		return nil, errNoSubmission // a native async job, not a submission
	}
	var s submission
	if res.State == "done" && json.Unmarshal(res.Res, &s) == nil && s.Token != "" {
		s.Fixed = a.e.Limits()
		return &s, nil
	}
	if err := json.Unmarshal(res.Meta, &s); err != nil {
		a.e.Log().WithError(err).WithField("token", token).Error("judge0: stored submission unreadable")
		return nil, fiber.ErrInternalServerError
	}
	switch res.State {
	case "running":
		s.StatusID = statusProcessing
	case "done": // finished without a result the renderer could write
		s.StatusID, s.Message = statusInternal, orDefault(res.Error, "the submission could not be judged")
	}
	s.Fixed = a.e.Limits()
	return &s, nil
}

// get handles GET /submissions/{token}.
func (a *api) get(c *fiber.Ctx) error {
	q, err := parseQuery(c)
	if err != nil {
		return err
	}
	s, err := a.load(c, strings.Clone(c.Params("token")))
	if err != nil {
		return err
	}
	return a.answer(c, s, q)
}

// getBatch handles GET /submissions/batch?tokens=a,b.
func (a *api) getBatch(c *fiber.Ctx) error {
	q, err := parseQuery(c)
	if err != nil {
		return err
	}
	var tokens []string
	for t := range strings.SplitSeq(c.Query("tokens"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			tokens = append(tokens, t)
		}
	}
	if n := len(tokens); n == 0 || n > maxBatch {
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("number of tokens in a batch must be between 1 and %d, got %d", maxBatch, n))
	}
	out := make([]any, len(tokens))
	for i, t := range tokens {
		s, err := a.load(c, t)
		if errors.Is(err, errNoSubmission) {
			continue // null
		}
		if err != nil {
			return err
		}
		v, err := s.view(q.fields, q.b64)
		if errors.Is(err, errNotUTF8) {
			return fiber.NewError(fiber.StatusBadRequest, err.Error())
		}
		out[i] = v
	}
	return c.JSON(fiber.Map{"submissions": out})
}

// languages handles GET /languages.
func (a *api) languages(c *fiber.Ctx) error {
	ls := allLanguages(a.e.Languages())
	out := make([]fiber.Map, len(ls))
	for i, l := range ls {
		out[i] = fiber.Map{"id": l.ID, "name": l.Name}
	}
	return c.JSON(out)
}

// language handles GET /languages/{id}.
func (a *api) language(c *fiber.Ctx) error {
	id, err := strconv.Atoi(c.Params("id"))
	l, ok := languageByID(a.e.Languages(), id)
	if err != nil || !ok {
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("language %q not found", c.Params("id")))
	}
	var compile any
	if l.Lang.Compiled() {
		compile = strings.Join(l.Lang.Compile, " ")
	}
	return c.JSON(fiber.Map{
		"id": l.ID, "name": l.Name, "is_archived": false, "source_file": l.Lang.Source,
		"compile_cmd": compile, "run_cmd": strings.Join(l.Lang.Run, " "),
	})
}

func (a *api) statuses(c *fiber.Ctx) error { return c.JSON(sortedStatuses()) }

// about handles GET /about: every value a non-null string.
func (a *api) about(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{
		"version":     Version,
		"homepage":    "https://github.com/pecan-judge/pecan",
		"source_code": "https://github.com/pecan-judge/pecan",
		"maintainer":  "Pecan (Judge0 compatible API, Pecan " + a.e.Version() + ")",
	})
}

func (a *api) version(c *fiber.Ctx) error { return c.SendString(Version) }

// configInfo handles GET /config_info: all of Judge0's keys, with Pecan's
// real limits and abilities.
func (a *api) configInfo(c *fiber.Ctx) error {
	return c.JSON(configInfo(a.e.Limits(), a.e.WebhookTimeout(), a.e.QueueLength()))
}

// configInfo is /config_info's object.
func configInfo(l config.Limits, hookTimeout time.Duration, queue int) fiber.Map {
	wall := min(l.DefaultTime*l.WallFactor+1, l.MaxWallTime)
	return fiber.Map{
		"maintenance_mode":                                 false,
		"enable_wait_result":                               true,
		"enable_compiler_options":                          false,
		"allowed_languages_for_compile_options":            []int{},
		"enable_command_line_arguments":                    false,
		"enable_submission_delete":                         false,
		"enable_callbacks":                                 true,
		"callbacks_max_tries":                              callbackTries,
		"callbacks_timeout":                                hookTimeout.Seconds(),
		"enable_additional_files":                          false,
		"max_queue_size":                                   queue,
		"cpu_time_limit":                                   l.DefaultTime,
		"max_cpu_time_limit":                               l.MaxTime,
		"cpu_extra_time":                                   0.0,
		"max_cpu_extra_time":                               0.0,
		"wall_time_limit":                                  wall,
		"max_wall_time_limit":                              l.MaxWallTime,
		"memory_limit":                                     l.DefaultMemoryKiB,
		"max_memory_limit":                                 l.MaxMemoryKiB,
		"stack_limit":                                      stackLimit(l),
		"max_stack_limit":                                  stackLimit(l),
		"max_processes_and_or_threads":                     l.Processes,
		"max_max_processes_and_or_threads":                 l.Processes,
		"enable_per_process_and_thread_time_limit":         false,
		"allow_enable_per_process_and_thread_time_limit":   false,
		"enable_per_process_and_thread_memory_limit":       false,
		"allow_enable_per_process_and_thread_memory_limit": false,
		"max_file_size":                                    l.FileSizeKiB,
		"max_max_file_size":                                l.FileSizeKiB,
		"number_of_runs":                                   1,
		"max_number_of_runs":                               1,
		"redirect_stderr_to_stdout":                        false,
		"max_extract_size":                                 0,
		"enable_batched_submissions":                       true,
		"max_submission_batch_size":                        maxBatch,
		"submission_cache_duration":                        0.0,
		"use_docs_as_homepage":                             false,
		"allow_enable_network":                             false,
		"enable_network":                                   false,
	}
}

// workers handles GET /workers: the sandbox pool as Judge0's one queue.
func (a *api) workers(c *fiber.Ctx) error {
	st, err := a.e.Status(c.UserContext())
	if err != nil {
		a.e.Log().WithError(err).Error("judge0: pool status")
		return fiber.ErrInternalServerError
	}
	return c.JSON([]fiber.Map{{
		"queue":     "default",
		"size":      st.QueueLength,
		"available": st.Available,
		"idle":      st.Idle,
		"working":   st.Running,
		"paused":    0,
		"failed":    st.Error,
	}})
}
