package check_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pecan-judge/pecan/http/openapi"
	"github.com/pecan-judge/pecan/http/openapi/check"
)

const judged = `{"code":0,"status":"Accepted","stdout":"3\n","stderr":"","time":0.01,"memory":3072,"wall_time":0.02,` +
	`"exit_code":0,"signal":0,"compile_output":"","sandbox":"sb-1","node":"n","request_id":"r1",` +
	`"stdout_truncated":false,"stderr_truncated":false}`

func validator(t *testing.T) *check.Validator {
	t.Helper()
	v, err := check.New(openapi.Document())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestConformingResponsesPass(t *testing.T) {
	v := validator(t)
	for _, c := range []struct {
		method, path string
		status       int
		ct, body     string
	}{
		{"POST", "/v1/judge/judge-single", 200, "application/json", judged},
		{"POST", "/v1/judge/judge-single", 400, "application/json; charset=utf-8", `{"error":"field \"language\" is required"}`},
		{"POST", "/v1/judge/judge-single", 503, "application/json", `{"error":"busy"}`},
		{"GET", "/v1/health", 200, "text/plain; charset=utf-8", "OK"},
		{"HEAD", "/v1/health", 200, "text/plain; charset=utf-8", ""},
		{"GET", "/v1/judge/result/abc", 200, "application/json", `{"request_id":"abc","state":"done","created_at":"2026-01-02T03:04:05Z","finished_at":"2026-01-02T03:04:06.5Z","res":` + judged + `}`},
		{"GET", "/v1/judge/result/abc", 200, "application/json", `{"request_id":"abc","state":"queued","created_at":"2026-01-02T03:04:05Z"}`},
		{"GET", "/v1/judge/result/abc", 200, "application/json", `{"request_id":"abc","state":"done","created_at":"2026-01-02T03:04:05Z","res":{"error":"sandbox died"},"error":"sandbox died","webhook":{"state":"gave_up","attempts":3,"last_error":"HTTP 500"}}`},
		{"DELETE", "/v1/problems/sha256%3A" + strings.Repeat("a", 64), 204, "", ""},
		{"GET", "/v1/problems/", 200, "application/json", `[]`},
		{"POST", "/v1/judge/judge-single-async", 200, "application/json", `{"request_id":"0b5d7c4e-8c1a-4f0e-9d55-0a1b2c3d4e5f"}`},
	} {
		if err := v.Check(c.method, c.path, c.status, c.ct, []byte(c.body)); err != nil {
			t.Errorf("%s %s %d: %v", c.method, c.path, c.status, err)
		}
	}
}

// TestWrongResponsesFail proves the check can fail: each body, status or
// type below breaks the document in one way.
func TestWrongResponsesFail(t *testing.T) {
	v := validator(t)
	for _, c := range []struct {
		name, method, path string
		status             int
		ct, body, want     string
	}{
		{"a field missing", "POST", "/v1/judge/judge-single", 200, "application/json",
			strings.Replace(judged, `"memory":3072,`, "", 1), "memory"},
		{"a field of the wrong type", "POST", "/v1/judge/judge-single", 200, "application/json",
			strings.Replace(judged, `"time":0.01`, `"time":"0.01"`, 1), "time"},
		{"an undocumented field", "POST", "/v1/judge/judge-single", 200, "application/json",
			strings.Replace(judged, `{`, `{"verdict":"AC",`, 1), "verdict"},
		{"an unknown verdict", "POST", "/v1/judge/judge-single", 200, "application/json",
			strings.Replace(judged, `"Accepted"`, `"Passed"`, 1), "status"},
		{"an error body without error", "POST", "/v1/judge/judge-single", 400, "application/json", `{"message":"bad"}`, "error"},
		{"not JSON", "POST", "/v1/judge/judge-single", 200, "application/json", `<html>`, "not JSON"},
		{"an undocumented status", "GET", "/v1/languages", 404, "application/json", `{"error":"x"}`, "status 404"},
		{"an undocumented media type", "GET", "/v1/languages", 200, "text/html", `[]`, "media type"},
		{"a body where none is documented", "DELETE", "/v1/problems/sha256:x", 204, "application/json", `{}`, "without a body"},
		{"a wrong text", "GET", "/v1/health", 200, "text/plain", "NOK", "schema"},
		{"a bad date", "GET", "/v1/judge/result/a", 200, "application/json", `{"request_id":"a","state":"queued","created_at":"yesterday"}`, "created_at"},
		{"a bad digest", "GET", "/v1/problems", 200, "application/json",
			`[{"id":"md5:1","name":"a","type":"pass-fail","tests":1,"groups":1,"validation":"default","time_limit":null,"memory_limit":null}]`, "id"},
	} {
		err := v.Check(c.method, c.path, c.status, c.ct, []byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming %q", c.name, err, c.want)
		}
	}
}

func TestUndocumentedOperation(t *testing.T) {
	v := validator(t)
	for _, c := range [][2]string{{"GET", "/v1/nonexistent"}, {"PUT", "/v1/judge/judge-single"}, {"GET", "/v1/judge/result"}} {
		err := v.Check(c[0], c[1], 404, "application/json", []byte(`{"error":"x"}`))
		if !errors.Is(err, check.ErrUndocumented) {
			t.Errorf("%s %s: got %v, want ErrUndocumented", c[0], c[1], err)
		}
	}
}

func TestCheckSchema(t *testing.T) {
	v := validator(t)
	if err := v.CheckSchema("Error", []byte(`{"error":"x"}`)); err != nil {
		t.Error(err)
	}
	if err := v.CheckSchema("Error", []byte(`{"error":""}`)); err == nil {
		t.Error("an empty error message passed")
	}
	if err := v.CheckSchema("NoSuchSchema", []byte(`{}`)); err == nil {
		t.Error("an unknown schema passed")
	}
}
