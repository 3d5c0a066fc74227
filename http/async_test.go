package http

import (
	"context"
	"encoding/json"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/pecan-judge/pecan/messages"
)

// fakeAsync keeps submissions in memory: keys map to ids, and full makes
// every new submission ErrAsyncFull.
type fakeAsync struct {
	mu      sync.Mutex
	jobs    []AsyncJob
	keys    map[string]string
	results map[string]*AsyncResult
	full    bool
	err     error // returned by Submit when set
}

func (f *fakeAsync) Submit(_ context.Context, j AsyncJob, key string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.keys[key]; ok && key != "" {
		return id, nil
	}
	if f.err != nil {
		return "", f.err
	}
	if f.full {
		return "", ErrAsyncFull
	}
	f.jobs = append(f.jobs, j)
	if f.keys == nil {
		f.keys = map[string]string{}
	}
	f.keys[key] = j.Request.RequestId
	return j.Request.RequestId, nil
}

func (f *fakeAsync) Result(_ context.Context, id string) (*AsyncResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.results[id]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("lookup %s: %w", id, ErrAsyncNotFound)
}

func (f *fakeAsync) Stats() AsyncStats {
	return AsyncStats{Queued: 3, Running: 1, Delivered: 7, GaveUp: 1, FailedDeliveries: 4}
}

func (f *fakeAsync) submitted() []AsyncJob {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]AsyncJob(nil), f.jobs...)
}

func newAsyncApp(t *testing.T, a Async) *fiber.App {
	t.Helper()
	return New(Options{
		Version: "test", Limits: testLimits, BodyLimit: testBodyLimit,
		QueueTimeout: 30 * time.Second, Async: a,
	}, testRegistry(t), &fakeJudge{})
}

func postAsync(body string, header ...string) *nethttp.Request {
	req := httptest.NewRequest(nethttp.MethodPost, "/v1/judge/judge-single-async", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

const asyncBody = `{"language":"py","code":"print(1)","stdin":"x","desired_stdout":"1","time_limit":1.5,"memory_limit":65536,"webhook_url":"https://judge.example/hook?x=1"}`

func TestAsyncSubmit(t *testing.T) {
	fa := &fakeAsync{}
	app := newAsyncApp(t, fa)
	resp, body := do(t, app, postAsync(asyncBody, "Idempotency-Key", "sub-1"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil || len(got) != 1 {
		t.Fatalf("body %s: want exactly {\"request_id\": ...}", body)
	}
	jobs := fa.submitted()
	if len(jobs) != 1 {
		t.Fatalf("%d jobs submitted", len(jobs))
	}
	j := jobs[0]
	if got["request_id"] != j.Request.RequestId || j.Request.RequestId == "" {
		t.Errorf("answered id %v, submitted %q", got["request_id"], j.Request.RequestId)
	}
	r := j.Request
	if r.Language != "python" || string(r.Code) != "print(1)" || string(r.Stdin) != "x" || string(r.DesiredStdout) != "1" ||
		r.Limits.CpuSeconds != 1.5 || r.Limits.MemoryKib != 65536 || r.Checker != "lines" {
		t.Errorf("request %+v", r)
	}
	if r.DeadlineUnixMs != 0 {
		t.Error("async request carries a deadline; it must be set when the job starts")
	}
	// The budget is judge-single's: queue timeout + run wall time + 5 s of
	// grace for the sandbox + 5 s for the answer to come back.
	if want := 30*time.Second + time.Duration(r.Limits.WallSeconds*float64(time.Second)) + 10*time.Second; j.Budget != want {
		t.Errorf("budget %s, want %s", j.Budget, want)
	}
	if j.WebhookURL != "https://judge.example/hook?x=1" {
		t.Errorf("webhook %q", j.WebhookURL)
	}

	// The same Idempotency-Key: the same id, no new job.
	_, body2 := do(t, app, postAsync(asyncBody, "Idempotency-Key", "sub-1"))
	if string(body2) != string(body) || len(fa.submitted()) != 1 {
		t.Errorf("repeat with the key: %s (first %s), %d jobs", body2, body, len(fa.submitted()))
	}
	// Without a webhook: fine, the client polls.
	resp, body = do(t, app, postAsync(`{"language":"python","code":"print(1)"}`))
	if resp.StatusCode != 200 || len(fa.submitted()) != 2 || fa.submitted()[1].WebhookURL != "" {
		t.Errorf("no webhook: %d %s", resp.StatusCode, body)
	}
}

func TestAsyncBadRequestsCreateNoJob(t *testing.T) {
	fa := &fakeAsync{}
	app := newAsyncApp(t, fa)
	for _, c := range []struct {
		name, body string
		header     []string
		code       int
		mention    string
	}{
		{"missing_code", `{"language":"python"}`, nil, 400, "code"},
		{"unknown_language", `{"language":"cobol","code":"x"}`, nil, 400, "python"},
		{"bad_limit", `{"language":"python","code":"x","time_limit":-1}`, nil, 400, "time_limit"},
		{"ftp_webhook", `{"language":"python","code":"x","webhook_url":"ftp://a.example/x"}`, nil, 400, "webhook_url"},
		{"relative_webhook", `{"language":"python","code":"x","webhook_url":"/hook"}`, nil, 400, "webhook_url"},
		{"no_host_webhook", `{"language":"python","code":"x","webhook_url":"http:///x"}`, nil, 400, "webhook_url"},
		{"number_webhook", `{"language":"python","code":"x","webhook_url":5}`, nil, 400, "webhook_url"},
		{"huge_webhook", `{"language":"python","code":"x","webhook_url":"https://a.example/` + strings.Repeat("a", 3000) + `"}`, nil, 400, "webhook_url"},
		{"invalid_json", `{"language":`, nil, 400, "JSON"},
		{"null_body", `null`, nil, 400, "object"},
		{"long_key", `{"language":"python","code":"x"}`, []string{"Idempotency-Key", strings.Repeat("k", 300)}, 400, "Idempotency-Key"},
		{"control_key", `{"language":"python","code":"x"}`, []string{"Idempotency-Key", "a\tb"}, 400, "Idempotency-Key"},
	} {
		resp, body := do(t, app, postAsync(c.body, c.header...))
		t.Run(c.name, func(t *testing.T) { wantError(t, resp, body, c.code, c.mention) })
	}
	req := postAsync(`{"language":"python","code":"x"}`)
	req.Header.Set("Content-Type", "text/plain")
	resp, body := do(t, app, req)
	wantError(t, resp, body, 415)
	if n := len(fa.submitted()); n != 0 {
		t.Errorf("%d jobs created by bad requests", n)
	}
}

func TestAsyncQueueFullAndInvalid(t *testing.T) {
	fa := &fakeAsync{full: true}
	app := newAsyncApp(t, fa)
	resp, body := do(t, app, postAsync(asyncBody))
	wantError(t, resp, body, 503, "full")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	fa.full, fa.err = false, fmt.Errorf("%w: webhook_url: 127.0.0.1 is a loopback address", ErrAsyncInvalid)
	resp, body = do(t, app, postAsync(asyncBody))
	wantError(t, resp, body, 400, "loopback")
	fa.err = fmt.Errorf("disk on fire")
	resp, body = do(t, app, postAsync(asyncBody))
	wantError(t, resp, body, 500)
	if strings.Contains(string(body), "fire") {
		t.Errorf("internal error leaked: %s", body)
	}
}

func TestAsyncResult(t *testing.T) {
	finished := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fa := &fakeAsync{results: map[string]*AsyncResult{
		"done-1": {RequestID: "done-1", State: "done", CreatedAt: finished.Add(-time.Second), FinishedAt: &finished,
			Res:     json.RawMessage(`{"code":0,"status":"Accepted"}`),
			Webhook: &WebhookStatus{State: "delivered", Attempts: 3}},
		"queued-1": {RequestID: "queued-1", State: "queued", CreatedAt: finished},
	}}
	app := newAsyncApp(t, fa)
	resp, body := do(t, app, httptest.NewRequest(nethttp.MethodGet, "/v1/judge/result/done-1", nil))
	want := `{"request_id":"done-1","state":"done","created_at":"2026-01-02T03:04:04Z","finished_at":"2026-01-02T03:04:05Z",` +
		`"res":{"code":0,"status":"Accepted"},"webhook":{"state":"delivered","attempts":3}}`
	if resp.StatusCode != 200 || string(body) != want {
		t.Errorf("done: %d %s\nwant %s", resp.StatusCode, body, want)
	}
	resp, body = do(t, app, httptest.NewRequest(nethttp.MethodGet, "/v1/judge/result/queued-1", nil))
	if want := `{"request_id":"queued-1","state":"queued","created_at":"2026-01-02T03:04:05Z"}`; resp.StatusCode != 200 || string(body) != want {
		t.Errorf("queued: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, app, httptest.NewRequest(nethttp.MethodGet, "/v1/judge/result/nope", nil))
	wantError(t, resp, body, 404, "nope")
}

func TestAsyncDisabled(t *testing.T) {
	app := newTestApp(t, &fakeJudge{})
	resp, body := do(t, app, postAsync(asyncBody))
	wantError(t, resp, body, 503, "not enabled")
	resp, body = do(t, app, httptest.NewRequest(nethttp.MethodGet, "/v1/judge/result/x", nil))
	wantError(t, resp, body, 503, "not enabled")
}

// The async result is byte for byte what judge-single answers for the
// same response: one mapping serves both.
func TestRenderResultIsJudgeSingleBody(t *testing.T) {
	fj := &fakeJudge{exec: func(_ context.Context, req *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
		return &messages.ExecuteResponse{RequestId: req.RequestId, Code: 1, Status: "WrongAnswer",
			Stdout: []byte("4\xff\n"), Stderr: []byte("e"), Time: 0.5, MemoryKib: 99, WallTime: 0.7, ExitCode: 0,
			CompileOutput: "warning", Sandbox: "sb", Node: "n"}, nil
	}}
	app := newTestApp(t, fj)
	resp, body := do(t, app, postJSON(`{"language":"python","code":"print(4)","desired_stdout":"3"}`))
	if resp.StatusCode != 200 {
		t.Fatalf("judge-single: %d %s", resp.StatusCode, body)
	}
	judged, _ := fj.exec(context.Background(), fj.lastRequest())
	rendered, err := RenderResult(judged)
	if err != nil {
		t.Fatal(err)
	}
	if string(rendered) != string(body) {
		t.Errorf("RenderResult %s\njudge-single %s", rendered, body)
	}
	failed, _ := RenderResult(&messages.ExecuteResponse{Failure: messages.Failure_FAILURE_INTERNAL, Error: "sandbox died twice"})
	if string(failed) != `{"error":"sandbox died twice"}` {
		t.Errorf("failed job renders %s", failed)
	}
}

func TestAsyncMetrics(t *testing.T) {
	app := newAsyncApp(t, &fakeAsync{})
	_, body := do(t, app, httptest.NewRequest(nethttp.MethodGet, "/metrics", nil))
	for _, want := range []string{`pecan_async_jobs{state="queued"} 3`, `pecan_async_jobs{state="running"} 1`,
		`pecan_async_webhook_deliveries_total{outcome="delivered"} 7`, `pecan_async_webhook_deliveries_total{outcome="gave_up"} 1`,
		`pecan_async_webhook_deliveries_total{outcome="failed"} 4`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
