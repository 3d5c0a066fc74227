package http

import (
	"context"
	"crypto/sha256"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/messages"
)

const (
	userToken  = "user-token-0123456789"
	userToken2 = "second-user-token-abcdef"
	adminToken = "admin-token-9876543210"
	wrongToken = "user-token-0123456788" // one byte off userToken
)

func newAuthApp(t *testing.T, j *fakeJudge, auth config.Auth, log logrus.FieldLogger) *fiber.App {
	t.Helper()
	return New(Options{
		Version: "1.2.3-test", Limits: testLimits, BodyLimit: testBodyLimit,
		QueueTimeout: 30 * time.Second, Auth: auth, Logger: log,
	}, testRegistry(t), j)
}

// authCase is one request and the status it must get.
type authCase struct {
	name, method, path string
	header             [2]string // name, value; empty name sends none
	status             int
}

func (c authCase) request() *nethttp.Request {
	var req *nethttp.Request
	if c.method == nethttp.MethodPost {
		req = postJSON(`{"code":"print(1)","language":"py"}`)
		// Both: app.Test sends RequestURI when it is set, as it is here.
		req.URL.Path, req.RequestURI = c.path, c.path
	} else {
		req = httptest.NewRequest(c.method, c.path, nil)
	}
	if c.header[0] != "" {
		req.Header.Set(c.header[0], c.header[1])
	}
	return req
}

func runAuthCases(t *testing.T, app *fiber.App, cases []authCase) {
	t.Helper()
	for _, c := range cases {
		resp, body := do(t, app, c.request())
		if resp.StatusCode != c.status {
			if len(body) > 200 {
				body = body[:200]
			}
			t.Errorf("%s: %s %s: status %d, want %d; body %s", c.name, c.method, c.path, resp.StatusCode, c.status, body)
			continue
		}
		switch c.status {
		case 401:
			wantError(t, resp, body, 401, "token")
			if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") {
				t.Errorf("%s: WWW-Authenticate %q, want a Bearer challenge", c.name, ch)
			}
		case 403:
			if c.path == "/v1/manager/faults" && (c.header == bearer(adminToken) || c.header == xAuth(adminToken)) {
				wantError(t, resp, body, 403, "fault injection is disabled")
			} else {
				wantError(t, resp, body, 403, "admin token")
			}
		}
	}
}

func bearer(tok string) [2]string { return [2]string{"Authorization", "Bearer " + tok} }
func xAuth(tok string) [2]string  { return [2]string{"X-Auth-Token", tok} }

func TestAuthOffByDefault(t *testing.T) {
	app := newTestApp(t, &fakeJudge{})
	runAuthCases(t, app, []authCase{
		{"judge", "POST", "/v1/judge/judge-single", [2]string{}, 200},
		{"status", "GET", "/v1/manager/sandbox-status", [2]string{}, 200},
		{"metrics", "GET", "/metrics", [2]string{}, 200},
		{"any token is ignored", "GET", "/v1/version", bearer(wrongToken), 200},
	})
}

func TestAuthTokens(t *testing.T) {
	var judged atomic.Int32
	fj := &fakeJudge{exec: func(_ context.Context, req *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
		judged.Add(1)
		return &messages.ExecuteResponse{RequestId: req.RequestId, Status: "Accepted"}, nil
	}}
	app := newAuthApp(t, fj, config.Auth{Tokens: []string{userToken, userToken2}}, nil)
	runAuthCases(t, app, []authCase{
		{"health is open", "GET", "/v1/health", [2]string{}, 200},
		{"health HEAD is open", "HEAD", "/v1/health", [2]string{}, 200},
		{"health with a wrong token", "GET", "/v1/health", bearer(wrongToken), 200},
		{"no token", "GET", "/v1/version", [2]string{}, 401},
		{"no token on judge", "POST", "/v1/judge/judge-single", [2]string{}, 401},
		{"wrong bearer", "POST", "/v1/judge/judge-single", bearer(wrongToken), 401},
		{"wrong X-Auth-Token", "POST", "/v1/judge/judge-single", xAuth(wrongToken), 401},
		{"prefix of a token", "GET", "/v1/version", bearer(userToken[:len(userToken)-1]), 401},
		{"token with more after it", "GET", "/v1/version", bearer(userToken + "x"), 401},
		{"other scheme", "GET", "/v1/version", [2]string{"Authorization", "Basic " + userToken}, 401},
		{"scheme only", "GET", "/v1/version", [2]string{"Authorization", "Bearer"}, 401},
		{"bearer", "POST", "/v1/judge/judge-single", bearer(userToken), 200},
		{"second token", "POST", "/v1/judge/judge-single", bearer(userToken2), 200},
		{"bearer scheme in lower case", "GET", "/v1/version", [2]string{"Authorization", "bearer " + userToken}, 200},
		{"X-Auth-Token", "POST", "/v1/judge/judge-single", xAuth(userToken), 200},
		{"async result", "GET", "/v1/judge/result/00000000-0000-0000-0000-000000000000", [2]string{}, 401},
		{"languages", "GET", "/v1/languages", [2]string{}, 401},
		// Without admin tokens the ordinary ones guard the manager too.
		{"manager without token", "GET", "/v1/manager/sandbox-status", [2]string{}, 401},
		{"manager with token", "GET", "/v1/manager/sandbox-status", bearer(userToken), 200},
		{"metrics without token", "GET", "/metrics", [2]string{}, 401},
		{"metrics with token", "GET", "/metrics", xAuth(userToken), 200},
		// What is not exactly the health path needs a token, even where
		// fiber would route it to health: the exemption fails closed.
		{"health in capitals", "GET", "/V1/HEALTH", [2]string{}, 401},
		{"health with a slash", "GET", "/v1/health/", [2]string{}, 401},
		{"health by POST", "POST", "/v1/health", [2]string{}, 401},
		// An unknown route does not tell a stranger it is unknown.
		{"unknown route", "GET", "/v1/nonexistent", [2]string{}, 401},
		{"unknown route with token", "GET", "/v1/nonexistent", bearer(userToken), 404},
	})
	if n := judged.Load(); n != 3 {
		t.Errorf("%d requests reached the judge, want the 3 with a valid token", n)
	}
}

func TestAdminTokens(t *testing.T) {
	app := newAuthApp(t, &fakeJudge{}, config.Auth{Tokens: []string{userToken}, AdminTokens: []string{adminToken}}, nil)
	var cases []authCase
	for _, ep := range []struct{ method, path string }{
		{"GET", "/v1/manager/sandbox-status"}, {"GET", "/v1/manager/faults"}, {"GET", "/metrics"},
		// Another spelling fiber routes to the manager gets the same guard.
		{"GET", "/V1/Manager/Sandbox-Status/"},
	} {
		ok := 200
		if ep.path == "/v1/manager/faults" {
			// Fault injection is off in this app: its own refusal,
			// which a request reaches only past the token check.
			ok = 403
		}
		cases = append(cases,
			authCase{"no token", ep.method, ep.path, [2]string{}, 401},
			authCase{"wrong token", ep.method, ep.path, bearer(wrongToken), 401},
			authCase{"ordinary token", ep.method, ep.path, bearer(userToken), 403},
			authCase{"ordinary X-Auth-Token", ep.method, ep.path, xAuth(userToken), 403},
			authCase{"admin bearer", ep.method, ep.path, bearer(adminToken), ok},
			authCase{"admin X-Auth-Token", ep.method, ep.path, xAuth(adminToken), ok},
		)
	}
	cases = append(cases,
		authCase{"admin token on judge", "POST", "/v1/judge/judge-single", bearer(adminToken), 200},
		authCase{"ordinary token on judge", "POST", "/v1/judge/judge-single", bearer(userToken), 200},
		authCase{"health", "GET", "/v1/health", [2]string{}, 200},
	)
	runAuthCases(t, app, cases)
}

// Admin tokens alone still close the whole API: a configured token never
// leaves an endpoint open by accident.
func TestOnlyAdminTokens(t *testing.T) {
	app := newAuthApp(t, &fakeJudge{}, config.Auth{AdminTokens: []string{adminToken}}, nil)
	runAuthCases(t, app, []authCase{
		{"judge without token", "POST", "/v1/judge/judge-single", [2]string{}, 401},
		{"judge with admin token", "POST", "/v1/judge/judge-single", bearer(adminToken), 200},
		{"manager with admin token", "GET", "/v1/manager/sandbox-status", xAuth(adminToken), 200},
		{"health", "GET", "/v1/health", [2]string{}, 200},
	})
}

// A CORS preflight carries no token (browsers never send credentials on
// it); it must be answered, and the refusal of the real request must
// carry CORS headers so the page can read it.
func TestAuthCORSPreflight(t *testing.T) {
	app := newAuthApp(t, &fakeJudge{}, config.Auth{Tokens: []string{userToken}, AdminTokens: []string{adminToken}}, nil)
	for _, path := range []string{"/v1/judge/judge-single", "/v1/manager/faults"} {
		req := httptest.NewRequest(nethttp.MethodOptions, path, nil)
		req.Header.Set("Origin", "https://judge.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, body := do(t, app, req)
		if resp.StatusCode != 204 {
			t.Fatalf("preflight %s: status %d, want 204; body %s", path, resp.StatusCode, body)
		}
		if h := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(h, "authorization") {
			t.Errorf("preflight %s: Access-Control-Allow-Headers %q does not allow Authorization", path, h)
		}
	}
	req := postJSON(`{"code":"x","language":"py"}`)
	req.Header.Set("Origin", "https://judge.example")
	resp, body := do(t, app, req)
	wantError(t, resp, body, 401, "token")
	if resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Error("401 without CORS headers: a browser client cannot read it")
	}
}

// An invalid token is logged (a client is misconfigured or someone is
// guessing), never the token itself.
func TestAuthLogsInvalidTokenWithoutIt(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	app := newAuthApp(t, &fakeJudge{}, config.Auth{Tokens: []string{userToken}}, log)
	do(t, app, httptest.NewRequest(nethttp.MethodGet, "/v1/health", nil))
	req := httptest.NewRequest(nethttp.MethodGet, "/v1/version", nil)
	req.Header.Set("X-Auth-Token", wrongToken)
	do(t, app, req)
	var warned bool
	for _, e := range hook.AllEntries() {
		s, _ := e.String()
		if strings.Contains(s, wrongToken) || strings.Contains(s, userToken) {
			t.Errorf("a token reached the log: %s", s)
		}
		if e.Level == logrus.WarnLevel && strings.Contains(e.Message, "invalid API token") {
			warned = true
		}
	}
	if !warned {
		t.Error("no warning for an invalid token")
	}
}

func TestMatches(t *testing.T) {
	digests := func(toks ...string) [][sha256.Size]byte {
		var d [][sha256.Size]byte
		for _, tok := range toks {
			d = append(d, sha256.Sum256([]byte(tok)))
		}
		return d
	}
	set := digests(userToken, adminToken, "a-much-longer-token-than-the-others-0123456789")
	for _, c := range []struct {
		cands [2]string
		want  bool
	}{
		{[2]string{userToken, ""}, true},
		{[2]string{"", adminToken}, true},
		{[2]string{wrongToken, adminToken}, true}, // either header may carry it
		{[2]string{"a-much-longer-token-than-the-others-0123456789", ""}, true},
		{[2]string{wrongToken, ""}, false},
		{[2]string{"", ""}, false},
		{[2]string{strings.ToUpper(userToken), ""}, false},
	} {
		if got := matches(c.cands, set); got != c.want {
			t.Errorf("matches(%q) = %v, want %v", c.cands, got, c.want)
		}
	}
	if matches([2]string{userToken, userToken}, nil) {
		t.Error("matched against no tokens")
	}
}
