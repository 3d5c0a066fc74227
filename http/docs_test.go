package http

import (
	"bytes"
	"context"
	"encoding/json"
	nethttp "net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/http/openapi"
	"github.com/pecan-judge/pecan/http/openapi/check"
	"github.com/pecan-judge/pecan/http/playground"
	"github.com/pecan-judge/pecan/messages"
)

func TestOpenAPIDocumentServed(t *testing.T) {
	app := newTestApp(t, &fakeJudge{})
	resp, body := do(t, app, httptest.NewRequest(nethttp.MethodGet, "/v1/openapi.json", nil))
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(body, openapi.Document()) {
		t.Error("the served document is not the embedded one")
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, %v; want 3.1.0", doc.OpenAPI, err)
	}
}

// nativeRoute says which routes the document describes: the native API
// and the playground, not the compatibility APIs mounted beside them.
var nativeRoute = regexp.MustCompile(`^(/v1/|/metrics$|/$|/playground/)`)

// TestEveryRouteDocumented holds the app's routes and the document's
// operations to each other, both ways.
func TestEveryRouteDocumented(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document(), &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for p, item := range doc.Paths {
		for m := range item {
			if m != "parameters" {
				documented[strings.ToUpper(m)+" "+p] = true
			}
		}
	}
	param := regexp.MustCompile(`:([a-z_]+)`)
	routed := map[string]bool{}
	for _, r := range newTestApp(t, &fakeJudge{}).GetRoutes(true) {
		if r.Method == nethttp.MethodHead || !nativeRoute.MatchString(r.Path) {
			continue
		}
		op := r.Method + " " + param.ReplaceAllString(r.Path, "{$1}")
		routed[op] = true
		if !documented[op] {
			t.Errorf("route %s is not in the OpenAPI document", op)
		}
	}
	for op := range documented {
		if !routed[op] {
			t.Errorf("the OpenAPI document has %s, which the app does not route", op)
		}
	}
}

// TestHandlersAnswerAsDocumented runs the handlers' answers, on a fake
// judge and queue, through the document's schemas: each body the server
// renders, errors included.
func TestHandlersAnswerAsDocumented(t *testing.T) {
	v, err := check.New(openapi.Document())
	if err != nil {
		t.Fatal(err)
	}
	finished := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	res, _ := RenderResult(&messages.ExecuteResponse{RequestId: "job-1", Status: "WrongAnswer", Code: 1, Stdout: []byte{0xff}})
	fa := &fakeAsync{results: map[string]*AsyncResult{
		"job-1": {RequestID: "job-1", State: "done", CreatedAt: finished, FinishedAt: &finished, Res: res, Webhook: &WebhookStatus{State: "pending", Attempts: 1, LastError: "HTTP 500"}},
		"job-2": {RequestID: "job-2", State: "running", CreatedAt: finished, Progress: []*messages.TestResult{{Name: "sample/1", Group: "sample", Status: "Accepted"}}},
	}}
	j := &fakeJudge{
		// A submission's answer, scored, for submissions; the default
		// judge-single answer for the rest.
		exec: func(_ context.Context, req *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
			if req.Submission == nil {
				return (&fakeJudge{}).Execute(context.Background(), req)
			}
			return &messages.ExecuteResponse{RequestId: req.RequestId, Submission: true, Status: "WrongAnswer", Code: 1, HasScore: true, Score: 10,
				Tests: []*messages.TestResult{{Name: "1", Group: "secret", Status: "Accepted"}, {Name: "2", Status: "WrongAnswer", Code: 1, Feedback: "line 1"}}}, nil
		},
		// A cluster member's status.
		status: func(context.Context) (*messages.PoolStatus, error) {
			return &messages.PoolStatus{Available: 1, Idle: 1, Node: "a", Members: []*messages.PoolStatus{{Available: 1, Node: "a"}, {Available: 2, Node: "b"}}}, nil
		},
	}
	app := New(Options{Version: "test", Limits: testLimits, BodyLimit: testBodyLimit, QueueTimeout: 30 * time.Second, Async: fa}, testRegistry(t), j)
	post := func(path, body string) *nethttp.Request {
		req := httptest.NewRequest(nethttp.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	get := func(path string) *nethttp.Request { return httptest.NewRequest(nethttp.MethodGet, path, nil) }
	reqs := []*nethttp.Request{
		get("/v1/health"), get("/v1/version"), get("/v1/languages"), get("/v1/openapi.json"),
		get("/v1/manager/sandbox-status"), get("/v1/manager/faults"), get("/metrics"),
		get("/"), get("/playground/style.css"), get("/playground/nothing.js"),
		post("/v1/judge/judge-single", `{"language":"py","code":"print(3)"}`),
		post("/v1/judge/judge-single", `{"language":"cobol","code":"x"}`),
		post("/v1/judge/judge-single-async", asyncBody),
		post("/v1/judge/submission", `{"language":"py","code":"print(3)","tests":[{"stdin":"","answer":"3"}]}`),
		post("/v1/judge/submission", `{"language":"py","code":"print(3)"}`),
		post("/v1/judge/submission-async", `{"language":"py","code":"print(3)","tests":[{"stdin":"","answer":"3"}]}`),
		post("/v1/manager/faults", `{"clear":true}`),
		get("/v1/judge/result/job-1"), get("/v1/judge/result/job-2"), get("/v1/judge/result/nope"),
		get("/v1/problems"), get("/v1/problems/sha256:" + strings.Repeat("0", 64)),
	}
	text := postJSON(`{}`)
	text.Header.Set("Content-Type", "text/plain")
	reqs = append(reqs, text)
	for _, req := range reqs {
		path := req.URL.EscapedPath()
		resp, body := do(t, app, req)
		if err := v.Check(req.Method, path, resp.StatusCode, resp.Header.Get("Content-Type"), body); err != nil {
			t.Error(err)
		}
	}

}

func TestPlaygroundServed(t *testing.T) {
	app := newTestApp(t, &fakeJudge{})
	resp, body := do(t, app, httptest.NewRequest(nethttp.MethodGet, "/", nil))
	if playground.Built() {
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte("/playground/app.js")) {
			t.Errorf("GET /: %d %q %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		resp, _ = do(t, app, httptest.NewRequest(nethttp.MethodGet, "/playground/app.js", nil))
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
			t.Errorf("GET /playground/app.js: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	} else if resp.StatusCode != 503 || !bytes.Contains(body, []byte("make playground")) {
		t.Errorf("GET / without the bundle: %d %.200s, want 503 saying how to build it", resp.StatusCode, body)
	}
	resp, body = do(t, app, httptest.NewRequest(nethttp.MethodGet, "/playground/style.css", nil))
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || len(body) == 0 {
		t.Errorf("GET /playground/style.css: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, p := range []string{"/playground/index.html", "/playground/nothing.js", "/playground/x"} {
		resp, body := do(t, app, httptest.NewRequest(nethttp.MethodGet, p, nil))
		wantError(t, resp, body, 404, "no playground file")
	}
}

// TestPlaygroundOpenWithTokens: a browser loads the page and its files
// without a token; everything else still needs one.
func TestPlaygroundOpenWithTokens(t *testing.T) {
	app := newAuthApp(t, &fakeJudge{}, config.Auth{Tokens: []string{userToken}}, nil)
	wantPage := nethttp.StatusOK
	if !playground.Built() {
		wantPage = nethttp.StatusServiceUnavailable
	}
	runAuthCases(t, app, []authCase{
		{"the page", "GET", "/", [2]string{}, wantPage},
		{"its style", "GET", "/playground/style.css", [2]string{}, 200},
		{"an unknown file", "GET", "/playground/nothing.js", [2]string{}, 404},
		{"a POST to the page", "POST", "/", [2]string{}, 401},
		{"below the files", "GET", "/playground/a/b.js", [2]string{}, 401},
		{"the document needs a token", "GET", "/v1/openapi.json", [2]string{}, 401},
		{"the document with a token", "GET", "/v1/openapi.json", bearer(userToken), 200},
	})
}

// TestAsyncResultProgress: a running submission's result lists the tests
// decided so far.
func TestAsyncResultProgress(t *testing.T) {
	fa := &fakeAsync{results: map[string]*AsyncResult{
		"job-2": {RequestID: "job-2", State: "running", Progress: []*messages.TestResult{{Name: "sample/1", Status: "Accepted", Time: 0.5}}},
	}}
	resp, body := do(t, newAsyncApp(t, fa), httptest.NewRequest(nethttp.MethodGet, "/v1/judge/result/job-2", nil))
	var r struct {
		State string `json:"state"`
		Tests []struct {
			Name, Status string
			Time         float64
		} `json:"tests"`
	}
	if err := json.Unmarshal(body, &r); err != nil || resp.StatusCode != 200 || r.State != "running" || len(r.Tests) != 1 || r.Tests[0].Name != "sample/1" || r.Tests[0].Time != 0.5 {
		t.Errorf("%d %s: %+v %v", resp.StatusCode, body, r, err)
	}
}
