package http

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/judge"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
)

// fakeJudge records the last request and answers with whatever its
// functions say.
type fakeJudge struct {
	mu      sync.Mutex
	last    *messages.ExecuteRequest
	lastCtx context.Context
	exec    func(ctx context.Context, req *messages.ExecuteRequest) (*messages.ExecuteResponse, error)
	status  func(ctx context.Context) (*messages.PoolStatus, error)
}

func (f *fakeJudge) Execute(ctx context.Context, req *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
	f.mu.Lock()
	f.last, f.lastCtx = req, ctx
	f.mu.Unlock()
	if f.exec != nil {
		return f.exec(ctx, req)
	}
	return &messages.ExecuteResponse{
		RequestId: req.RequestId, Code: 0, Status: "Accepted",
		Stdout: []byte("3\n"), Stderr: []byte("warn"), Time: 0.25, MemoryKib: 1234,
		WallTime: 0.5, ExitCode: 0, Signal: 0, CompileOutput: "ok", Sandbox: "sb-1", Node: "node-a",
	}, nil
}

func (f *fakeJudge) Status(ctx context.Context) (*messages.PoolStatus, error) {
	if f.status != nil {
		return f.status(ctx)
	}
	return &messages.PoolStatus{Available: 4, Idle: 3, Running: 1, Error: 0, Starting: 0, Restarts: 2, QueueLength: 5, Node: "node-a"}, nil
}

func (f *fakeJudge) lastRequest() *messages.ExecuteRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

var testLimits = config.Limits{
	DefaultTime:      2,
	MaxTime:          10,
	DefaultMemoryKiB: 262144,
	MaxMemoryKiB:     1048576,
	WallFactor:       3,
	MaxWallTime:      30,
	MaxStdinKiB:      4,
	MaxCodeKiB:       2,
}

const testBodyLimit = 64 * 1024

func testRegistry(t testing.TB) *languages.Registry {
	t.Helper()
	reg, err := languages.New(map[string]config.Language{
		"python": {Name: "Python 3", Aliases: []string{"py", "python3"}, Source: "main.py", Run: []string{"/usr/bin/python3", "main.py"}},
		"cpp": {Name: "C++", Source: "main.cpp", Compile: []string{"/usr/bin/g++", "main.cpp"}, Run: []string{"./a.out"},
			CompileLimits: config.Step{WallTime: 20}},
	}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func newTestApp(t testing.TB, j *fakeJudge) *fiber.App {
	t.Helper()
	return New(Options{
		Version:      "1.2.3-test",
		Limits:       testLimits,
		BodyLimit:    testBodyLimit,
		QueueTimeout: 30 * time.Second,
	}, testRegistry(t), j)
}

func do(t *testing.T, app *fiber.App, req *nethttp.Request) (*nethttp.Response, []byte) {
	t.Helper()
	resp, err := app.Test(req, 5000)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func postJSON(body string) *nethttp.Request {
	req := httptest.NewRequest(nethttp.MethodPost, "/v1/judge/judge-single", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// wantError checks an error answer's code and that its message contains
// every one of parts.
func wantError(t *testing.T, resp *nethttp.Response, body []byte, code int, parts ...string) {
	t.Helper()
	if resp.StatusCode != code {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, code, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	var e map[string]any
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	msg, ok := e["error"].(string)
	if !ok || msg == "" || len(e) != 1 {
		t.Fatalf("error body %s: want exactly {\"error\": <non-empty string>}", body)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q does not mention %q", msg, p)
		}
	}
}

func TestHealthAndVersion(t *testing.T) {
	app := newTestApp(t, &fakeJudge{})
	for path, want := range map[string]string{"/v1/health": "OK", "/v1/version": "1.2.3-test"} {
		resp, body := do(t, app, httptest.NewRequest(nethttp.MethodGet, path, nil))
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("%s: %d %q, want 200 %q", path, resp.StatusCode, body, want)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("%s: Content-Type %q, want text/plain", path, ct)
		}
	}
}

func TestLanguages(t *testing.T) {
	reg := testRegistry(t)
	py, _ := reg.Lookup("python")
	py.Available, py.ToolVersion = true, "Python 3.12.3"
	cpp, _ := reg.Lookup("cpp")
	cpp.Problem = "toolchain not found: /usr/bin/g++"
	app := New(Options{Limits: testLimits}, reg, &fakeJudge{})

	resp, body := do(t, app, httptest.NewRequest(nethttp.MethodGet, "/v1/languages", nil))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got []map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d languages: %s", len(got), body)
	}
	// sorted by id: cpp, python
	c, p := got[0], got[1]
	if c["id"] != "cpp" || c["name"] != "C++" || c["available"] != false || c["problem"] != cpp.Problem || c["version"] != "" {
		t.Errorf("cpp entry %v", c)
	}
	if a, ok := c["aliases"].([]any); !ok || len(a) != 0 {
		t.Errorf("cpp aliases %v, want []", c["aliases"])
	}
	if p["id"] != "python" || p["name"] != "Python 3" || p["available"] != true || p["version"] != "Python 3.12.3" {
		t.Errorf("python entry %v", p)
	}
	if _, has := p["problem"]; has {
		t.Errorf("python entry has a problem field: %v", p)
	}
	if a, _ := p["aliases"].([]any); len(a) != 2 || a[0] != "py" || a[1] != "python3" {
		t.Errorf("python aliases %v", p["aliases"])
	}
}

func TestSandboxStatus(t *testing.T) {
	app := newTestApp(t, &fakeJudge{})
	resp, body := do(t, app, httptest.NewRequest(nethttp.MethodGet, "/v1/manager/sandbox-status", nil))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"available_sandboxes": 4.0, "idle_sandboxes": 3.0, "running_sandboxes": 1.0, "error_sandboxes": 0.0,
		"starting_sandboxes": 0.0, "restarts": 2.0, "queue_length": 5.0, "node": "node-a",
		"submissions_running": 0.0, "tests_in_flight": 0.0, "artifact_cache_hits": 0.0, "artifact_cache_misses": 0.0,
		"artifact_cache_bytes": 0.0, "fetched_bytes": 0.0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unexpected fields: %s", body)
	}
}

func TestSandboxStatusCluster(t *testing.T) {
	app := newTestApp(t, &fakeJudge{status: func(context.Context) (*messages.PoolStatus, error) {
		a := &messages.PoolStatus{Available: 1, Idle: 1, Node: "a:1", Address: "a:1"}
		b := &messages.PoolStatus{Available: 2, Running: 2, QueueLength: 3, Restarts: 1, Node: "b:1", Address: "b:1"}
		return &messages.PoolStatus{Available: 1, Idle: 1, Node: "a:1", Address: "a:1", Members: []*messages.PoolStatus{a, b}}, nil
	}})
	resp, body := do(t, app, httptest.NewRequest(nethttp.MethodGet, "/v1/manager/sandbox-status", nil))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got sandboxStatus
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Node != "a:1" || got.Idle != 1 || got.Cluster == nil {
		t.Fatalf("this node's figures or the cluster missing: %s", body)
	}
	if n := len(got.Cluster.Members); n != 2 || got.Cluster.Members[1].Node != "b:1" || got.Cluster.Members[1].Running != 2 {
		t.Errorf("members %+v", got.Cluster.Members)
	}
	want := sandboxStatus{Available: 3, Idle: 1, Running: 2, Restarts: 1, QueueLength: 3, Node: "total"}
	if got.Cluster.Total != want {
		t.Errorf("total %+v, want %+v", got.Cluster.Total, want)
	}
}

func TestSandboxStatusErrors(t *testing.T) {
	app := newTestApp(t, &fakeJudge{status: func(context.Context) (*messages.PoolStatus, error) {
		return nil, errors.New("router gone")
	}})
	resp, body := do(t, app, httptest.NewRequest(nethttp.MethodGet, "/v1/manager/sandbox-status", nil))
	wantError(t, resp, body, 500)
	if strings.Contains(string(body), "router gone") {
		t.Errorf("internal error text leaked: %s", body)
	}

	app = newTestApp(t, &fakeJudge{status: func(context.Context) (*messages.PoolStatus, error) {
		panic("status exploded")
	}})
	resp, body = do(t, app, httptest.NewRequest(nethttp.MethodGet, "/v1/manager/sandbox-status", nil))
	wantError(t, resp, body, 500)
}

func TestJudgeSingleOK(t *testing.T) {
	fj := &fakeJudge{}
	app := newTestApp(t, fj)
	start := time.Now()
	resp, body := do(t, app, postJSON(`{"code":"print(1+2)","language":"PY","stdin":"x","desired_stdout":"3\n","extra":{"ignored":true}}`))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	req := fj.lastRequest()
	want := map[string]any{
		"code": 0.0, "status": "Accepted", "stdout": "3\n", "stderr": "warn", "time": 0.25, "memory": 1234.0,
		"wall_time": 0.5, "exit_code": 0.0, "signal": 0.0, "compile_output": "ok", "sandbox": "sb-1",
		"node": "node-a", "request_id": req.RequestId, "stdout_truncated": false, "stderr_truncated": false,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("response %s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unexpected response fields: %s", body)
	}

	if _, err := uuid.Parse(req.RequestId); err != nil {
		t.Errorf("request id %q is not a UUID", req.RequestId)
	}
	if req.Language != "python" || string(req.Code) != "print(1+2)" || string(req.Stdin) != "x" ||
		string(req.DesiredStdout) != "3\n" || req.Checker != judge.DefaultChecker {
		t.Errorf("request %+v", req)
	}
	l := req.Limits
	if l.CpuSeconds != 2 || l.MemoryKib != 262144 || l.WallSeconds != 7 {
		t.Errorf("default limits %+v, want cpu 2, mem 262144, wall 2*3+1", l)
	}
	// python has no compile step: 30 s queue + 7 s wall + 10 s slack.
	wantDeadline := start.Add(47 * time.Second)
	got2 := time.UnixMilli(req.DeadlineUnixMs)
	if got2.Before(wantDeadline.Add(-time.Second)) || got2.After(wantDeadline.Add(2*time.Second)) {
		t.Errorf("deadline %v, want about %v", got2, wantDeadline)
	}
	if dl, ok := fj.lastCtx.Deadline(); !ok || dl.UnixMilli() != req.DeadlineUnixMs {
		t.Errorf("context deadline %v (%v), want the request's %d", dl, ok, req.DeadlineUnixMs)
	}
}

func TestJudgeSingleExplicitLimits(t *testing.T) {
	fj := &fakeJudge{}
	app := newTestApp(t, fj)
	start := time.Now()
	resp, body := do(t, app, postJSON(`{"code":"int main(){}","language":"cpp","time_limit":1.5,"memory_limit":65536.0,"wall_time_limit":4,"checker":"float:1e-6"}`))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	req := fj.lastRequest()
	if l := req.Limits; l.CpuSeconds != 1.5 || l.MemoryKib != 65536 || l.WallSeconds != 4 {
		t.Errorf("limits %+v", l)
	}
	if req.Checker != "float:1e-6" || req.Language != "cpp" {
		t.Errorf("request %+v", req)
	}
	// 30 s queue + 20 s compile wall + 4 s wall + 10 s slack
	dl := time.UnixMilli(req.DeadlineUnixMs)
	if d := dl.Sub(start); d < 63*time.Second || d > 66*time.Second {
		t.Errorf("deadline %v after start, want about 64s", d)
	}
}

func TestJudgeSingleDefaultWallIsCapped(t *testing.T) {
	fj := &fakeJudge{}
	app := newTestApp(t, fj)
	resp, body := do(t, app, postJSON(`{"code":"x","language":"python","time_limit":10}`))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if w := fj.lastRequest().Limits.WallSeconds; w != testLimits.MaxWallTime {
		t.Errorf("wall %v, want the cap %v", w, testLimits.MaxWallTime)
	}
}

func TestJudgeSingleValidation(t *testing.T) {
	bigCode := strings.Repeat("a", 2*1024+1)
	bigStdin := strings.Repeat("b", 4*1024+1)
	cases := []struct {
		name, body string
		parts      []string
	}{
		{"invalid JSON", `{"code":`, []string{"invalid JSON"}},
		{"garbage", `not json`, []string{"invalid JSON"}},
		{"trailing data", `{"code":"x","language":"py"} {}`, []string{"invalid JSON"}},
		{"empty body", ``, []string{"empty"}},
		{"array body", `[1,2]`, []string{"JSON object"}},
		{"string body", `"hi"`, []string{"JSON object"}},
		{"missing code", `{"language":"python"}`, []string{`"code"`, "required"}},
		{"empty code", `{"code":"","language":"python"}`, []string{`"code"`}},
		{"null code", `{"code":null,"language":"python"}`, []string{`"code"`}},
		{"code not a string", `{"code":42,"language":"python"}`, []string{`"code"`, "string", "number"}},
		{"code too large", `{"code":"` + bigCode + `","language":"python"}`, []string{`"code"`, "2 KiB"}},
		{"missing language", `{"code":"x"}`, []string{`"language"`, "required", "cpp", "py", "python", "python3"}},
		{"language not a string", `{"code":"x","language":["python"]}`, []string{`"language"`, "an array"}},
		{"unknown language", `{"code":"x","language":"cobol"}`, []string{`"cobol"`, "cpp, py, python, python3"}},
		{"stdin not a string", `{"code":"x","language":"py","stdin":{}}`, []string{`"stdin"`, "an object"}},
		{"stdin too large", `{"code":"x","language":"py","stdin":"` + bigStdin + `"}`, []string{`"stdin"`, "4 KiB"}},
		{"desired_stdout not a string", `{"code":"x","language":"py","desired_stdout":true}`, []string{`"desired_stdout"`, "boolean"}},
		{"time_limit as string", `{"code":"x","language":"py","time_limit":"1"}`, []string{`"time_limit"`, "number", "a string"}},
		{"time_limit as string with space", `{"code":"x","language":"py","time_limit":   "1"}`, []string{`"time_limit"`, "number"}},
		{"time_limit bool", `{"code":"x","language":"py","time_limit":true}`, []string{`"time_limit"`, "number"}},
		{"time_limit negative", `{"code":"x","language":"py","time_limit":-1}`, []string{`"time_limit"`, "between"}},
		{"time_limit zero", `{"code":"x","language":"py","time_limit":0}`, []string{`"time_limit"`, "between"}},
		{"time_limit tiny", `{"code":"x","language":"py","time_limit":1e-300}`, []string{`"time_limit"`, "between"}},
		{"time_limit huge", `{"code":"x","language":"py","time_limit":1e9}`, []string{`"time_limit"`, "between"}},
		{"time_limit overflow", `{"code":"x","language":"py","time_limit":1e400}`, []string{`"time_limit"`, "finite"}},
		{"time_limit NaN", `{"code":"x","language":"py","time_limit":NaN}`, []string{"invalid JSON"}},
		{"memory_limit fractional", `{"code":"x","language":"py","memory_limit":1000.5}`, []string{`"memory_limit"`, "whole"}},
		{"memory_limit negative", `{"code":"x","language":"py","memory_limit":-1024}`, []string{`"memory_limit"`, "between"}},
		{"memory_limit zero", `{"code":"x","language":"py","memory_limit":0}`, []string{`"memory_limit"`, "between"}},
		{"memory_limit huge", `{"code":"x","language":"py","memory_limit":1e15}`, []string{`"memory_limit"`, "between"}},
		{"memory_limit overflow", `{"code":"x","language":"py","memory_limit":1e400}`, []string{`"memory_limit"`, "finite"}},
		{"memory_limit as string", `{"code":"x","language":"py","memory_limit":"1024"}`, []string{`"memory_limit"`, "number"}},
		{"wall_time_limit negative", `{"code":"x","language":"py","wall_time_limit":-5}`, []string{`"wall_time_limit"`, "between"}},
		{"wall_time_limit zero", `{"code":"x","language":"py","wall_time_limit":0}`, []string{`"wall_time_limit"`, "between"}},
		{"wall_time_limit huge", `{"code":"x","language":"py","wall_time_limit":31}`, []string{`"wall_time_limit"`, "between"}},
		{"bad checker", `{"code":"x","language":"py","checker":"regex"}`, []string{`"checker"`, "regex"}},
		{"bad float checker", `{"code":"x","language":"py","checker":"float:-1"}`, []string{`"checker"`}},
		{"checker not a string", `{"code":"x","language":"py","checker":1}`, []string{`"checker"`, "string"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fj := &fakeJudge{}
			app := newTestApp(t, fj)
			resp, body := do(t, app, postJSON(tc.body))
			wantError(t, resp, body, 400, tc.parts...)
			if fj.lastRequest() != nil {
				t.Error("an invalid request reached the judge")
			}
		})
	}
}

func TestJudgeSingleContentType(t *testing.T) {
	app := newTestApp(t, &fakeJudge{})
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/jsonx", "application/json; charset"} {
		req := postJSON(`{"code":"x","language":"py"}`)
		req.Header.Set("Content-Type", ct)
		if ct == "" {
			req.Header.Del("Content-Type")
		}
		resp, body := do(t, app, req)
		wantError(t, resp, body, 415, "application/json")
	}
	for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON"} {
		req := postJSON(`{"code":"x","language":"py"}`)
		req.Header.Set("Content-Type", ct)
		resp, body := do(t, app, req)
		if resp.StatusCode != 200 {
			t.Errorf("Content-Type %q: status %d: %s", ct, resp.StatusCode, body)
		}
	}
}

func TestJudgeSingleBusy(t *testing.T) {
	app := newTestApp(t, &fakeJudge{exec: func(_ context.Context, req *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
		return &messages.ExecuteResponse{RequestId: req.RequestId, Failure: messages.Failure_FAILURE_BUSY, Error: "queue full"}, nil
	}})
	resp, body := do(t, app, postJSON(`{"code":"x","language":"py"}`))
	wantError(t, resp, body, 503, "queue full")
	if ra := resp.Header.Get("Retry-After"); ra == "" {
		t.Error("503 without Retry-After")
	}
}

func TestJudgeSingleInternal(t *testing.T) {
	cases := map[string]func(context.Context, *messages.ExecuteRequest) (*messages.ExecuteResponse, error){
		"failure internal": func(context.Context, *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
			return &messages.ExecuteResponse{Failure: messages.Failure_FAILURE_INTERNAL, Error: "sandbox died twice"}, nil
		},
		"execute error": func(context.Context, *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
			return nil, errors.New("actor system stopped")
		},
		"nil response": func(context.Context, *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
			return nil, nil
		},
		"panic": func(context.Context, *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
			panic("judge exploded")
		},
		"nil pointer panic": func(context.Context, *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
			var m map[string]int
			m["x"] = 1
			return nil, nil
		},
	}
	for name, exec := range cases {
		t.Run(name, func(t *testing.T) {
			app := newTestApp(t, &fakeJudge{exec: exec})
			resp, body := do(t, app, postJSON(`{"code":"x","language":"py"}`))
			wantError(t, resp, body, 500)
			if strings.Contains(string(body), "exploded") || strings.Contains(string(body), "actor system") {
				t.Errorf("internal detail leaked: %s", body)
			}
		})
	}
}

func TestJudgeSingleDeadline(t *testing.T) {
	app := newTestApp(t, &fakeJudge{exec: func(context.Context, *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
		return nil, context.DeadlineExceeded
	}})
	resp, body := do(t, app, postJSON(`{"code":"x","language":"py"}`))
	wantError(t, resp, body, 504)
}

// A Judge that ignores its context must not pin the handler forever.
func TestJudgeSingleStuckJudge(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	fj := &fakeJudge{exec: func(context.Context, *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
		<-release
		return nil, nil
	}}
	s := &server{judge: fj, log: logrus.New()}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.execute(ctx, &messages.ExecuteRequest{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("execute waited %v past its deadline", d)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	app := newTestApp(t, &fakeJudge{})
	resp, body := do(t, app, httptest.NewRequest(nethttp.MethodGet, "/v1/nope", nil))
	wantError(t, resp, body, 404, "/v1/nope")
	resp, body = do(t, app, httptest.NewRequest(nethttp.MethodGet, "/v1/judge/judge-single", nil))
	wantError(t, resp, body, 405, "GET")
	resp, body = do(t, app, httptest.NewRequest(nethttp.MethodPost, "/v1/judge/judge-batch", nil))
	wantError(t, resp, body, 404)
}

func TestCORS(t *testing.T) {
	app := newTestApp(t, &fakeJudge{})
	req := httptest.NewRequest(nethttp.MethodOptions, "/v1/judge/judge-single", nil)
	req.Header.Set("Origin", "https://judge.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, _ := do(t, app, req)
	if resp.StatusCode != nethttp.StatusNoContent {
		t.Errorf("preflight status %d, want 204", resp.StatusCode)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin %q", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
		t.Errorf("Access-Control-Allow-Methods %q", got)
	}
	if got := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(got, "content-type") {
		t.Errorf("Access-Control-Allow-Headers %q", got)
	}

	req = httptest.NewRequest(nethttp.MethodGet, "/v1/health", nil)
	req.Header.Set("Origin", "https://judge.example")
	resp, _ = do(t, app, req)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("simple request: Access-Control-Allow-Origin %q", got)
	}
}

func TestDecodeRequestNullIsAbsent(t *testing.T) {
	r, err := decodeRequest([]byte(`{"code":"x","language":"py","time_limit":null,"memory_limit":null,"stdin":null,"checker":null}`), testLimits, testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.CPUSeconds != testLimits.DefaultTime || r.MemoryKiB != testLimits.DefaultMemoryKiB || r.Checker != judge.DefaultChecker {
		t.Errorf("%+v", r)
	}
}

func TestWithDefaults(t *testing.T) {
	got := withDefaults(config.Limits{MaxTime: 5})
	d := config.Default().Limits
	if got.MaxTime != 5 || got.DefaultTime != d.DefaultTime || got.MaxMemoryKiB != d.MaxMemoryKiB || got.MaxCodeKiB != d.MaxCodeKiB {
		t.Errorf("%+v", got)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	reg := testRegistry(f)
	f.Add([]byte(`{"code":"print(1)","language":"python"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeRequest(body, testLimits, reg)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if r.Code == "" || int64(len(r.Code)) > testLimits.MaxCodeKiB*1024 {
			t.Fatalf("code of %d bytes accepted", len(r.Code))
		}
		if int64(len(r.Stdin)) > testLimits.MaxStdinKiB*1024 {
			t.Fatalf("stdin of %d bytes accepted", len(r.Stdin))
		}
		if r.Language == nil {
			t.Fatal("no language")
		}
		if _, ok := reg.Lookup(r.Language.ID); !ok {
			t.Fatalf("language %q not in the registry", r.Language.ID)
		}
		for name, v := range map[string][2]float64{
			"cpu":  {r.CPUSeconds, testLimits.MaxTime},
			"wall": {r.WallSeconds, testLimits.MaxWallTime},
		} {
			if math.IsNaN(v[0]) || math.IsInf(v[0], 0) || v[0] < minSeconds || v[0] > v[1] {
				t.Fatalf("%s limit %v accepted", name, v[0])
			}
		}
		if r.MemoryKiB <= 0 || r.MemoryKiB > testLimits.MaxMemoryKiB {
			t.Fatalf("memory %d accepted", r.MemoryKiB)
		}
		if _, err := judge.ParseChecker(r.Checker); err != nil {
			t.Fatalf("checker %q accepted: %v", r.Checker, err)
		}
	})
}

func TestRequestLogging(t *testing.T) {
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	app := New(Options{Limits: testLimits, Logger: logger}, testRegistry(t), &fakeJudge{exec: func(context.Context, *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
		panic("boom")
	}})
	resp, body := do(t, app, postJSON(`{"code":"x","language":"py"}`))
	wantError(t, resp, body, 500)

	var found bool
	for _, e := range hook.AllEntries() {
		if e.Message != "http request" {
			continue
		}
		found = true
		if e.Level != logrus.DebugLevel || e.Data["status"] != 500 || e.Data["method"] != "POST" ||
			e.Data["path"] != "/v1/judge/judge-single" || e.Data["request_id"] == nil {
			t.Errorf("request log entry %v %v", e.Level, e.Data)
		}
	}
	if !found {
		t.Error("no request log entry")
	}
}

// Each stream comes in one encoding: text when it is UTF-8, else "" and
// the exact bytes in base64. The truncation flags pass through.
func TestJudgeSingleNonUTF8OutputIsExact(t *testing.T) {
	raw := []byte{'o', 'k', 0xff, 0xfe, '\n'}
	fj := &fakeJudge{exec: func(ctx context.Context, req *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
		return &messages.ExecuteResponse{RequestId: req.RequestId, Status: "WrongAnswer", Code: 1, Stdout: raw, Stderr: []byte("fine"), StdoutTruncated: true}, nil
	}}
	app := newTestApp(t, fj)
	resp, body := do(t, app, postJSON(`{"code":"x","language":"python"}`))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got struct {
		Stdout          *string `json:"stdout"`
		Stderr          string  `json:"stderr"`
		StdoutBase64    string  `json:"stdout_base64"`
		StderrBase64    *string `json:"stderr_base64"`
		StdoutTruncated *bool   `json:"stdout_truncated"`
		StderrTruncated *bool   `json:"stderr_truncated"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Stdout == nil || *got.Stdout != "" {
		t.Errorf("stdout %v, want present and empty for output that is not UTF-8", got.Stdout)
	}
	if dec, err := base64.StdEncoding.DecodeString(got.StdoutBase64); err != nil || !bytes.Equal(dec, raw) {
		t.Errorf("stdout_base64 %q does not carry the exact bytes", got.StdoutBase64)
	}
	if got.Stderr != "fine" || got.StderrBase64 != nil {
		t.Errorf("stderr %q, stderr_base64 %v: want the text only", got.Stderr, got.StderrBase64)
	}
	if got.StdoutTruncated == nil || !*got.StdoutTruncated || got.StderrTruncated == nil || *got.StderrTruncated {
		t.Errorf("truncation flags %v %v, want true and false, both present", got.StdoutTruncated, got.StderrTruncated)
	}
}

// JSON text must be UTF-8; invalid bytes inside strings are taken as
// U+FFFD (encoding/json's rule) rather than refused or passed on raw, so
// the program sees valid UTF-8 and the request is judged.
func TestJudgeSingleInvalidUTF8Input(t *testing.T) {
	fj := &fakeJudge{}
	app := newTestApp(t, fj)
	resp, body := do(t, app, postJSON("{\"code\":\"print(1)\xff\",\"language\":\"python\",\"stdin\":\"a\xc3\x28b\"}"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	req := fj.lastRequest()
	if string(req.Code) != "print(1)\uFFFD" || !utf8.Valid(req.Stdin) || !strings.Contains(string(req.Stdin), "\uFFFD") {
		t.Errorf("code %q stdin %q", req.Code, req.Stdin)
	}
}
