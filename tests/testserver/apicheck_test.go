package testserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// serve answers each path with the status, type and body given.
func serve(t *testing.T, answers map[string][3]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", a[1])
		code := map[string]int{"200": 200, "404": 404, "204": 204}[a[0]]
		w.WriteHeader(code)
		io.WriteString(w, a[2])
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAPICheckPassesConformingResponses(t *testing.T) {
	base := serve(t, map[string][3]string{
		"/v1/health":      {"200", "text/plain; charset=utf-8", "OK"},
		"/v1/languages":   {"200", "application/json", `[{"id":"python","name":"Python 3","aliases":["py"],"version":"3.11","available":true}]`},
		"/v1/nonexistent": {"404", "application/json", `{"error":"no such endpoint: GET /v1/nonexistent"}`},
		"/judge0/about":   {"200", "application/json", `{"version":"1.13.1"}`}, // not native: unchecked
	})
	a := NewAPICheck(nil)
	c := &http.Client{Transport: a}
	for _, p := range []string{"/v1/health", "/v1/languages", "/v1/nonexistent", "/judge0/about"} {
		get(t, c, base+p)
	}
	if got := get(t, c, base+"/v1/health"); got != "OK" {
		t.Errorf("the caller read %q, want the body the server sent", got)
	}
	if err := a.Err(); err != nil {
		t.Error(err)
	}
	if a.Checked() != 4 {
		t.Errorf("checked %d responses, want 4 (the /judge0 one is not native)", a.Checked())
	}
}

// TestAPICheckFailsOnAWrongBody is the end-to-end check's own proof: a
// response that breaks the document fails the suite.
func TestAPICheckFailsOnAWrongBody(t *testing.T) {
	for name, answer := range map[string][3]string{
		"a language without its id": {"200", "application/json", `[{"name":"Python 3","aliases":[],"version":"3.11","available":true}]`},
		"an undocumented field":     {"200", "application/json", `[{"id":"py","name":"P","aliases":[],"version":"3","available":true,"color":"blue"}]`},
		"plain text":                {"200", "text/plain", `python`},
		"an undocumented status":    {"204", "application/json", ``},
	} {
		base := serve(t, map[string][3]string{"/v1/languages": answer, "/v1/nothing": {"200", "application/json", `{}`}})
		a := NewAPICheck(nil)
		c := &http.Client{Transport: a}
		get(t, c, base+"/v1/languages")
		err := a.Err()
		if err == nil || !strings.Contains(err.Error(), "/v1/languages") {
			t.Errorf("%s: Err() = %v, want the mismatch of /v1/languages", name, err)
		}
		// An undocumented route must be refused with the error body.
		b := NewAPICheck(nil)
		get(t, &http.Client{Transport: b}, base+"/v1/nothing")
		if err := b.Err(); err == nil || !strings.Contains(err.Error(), "undocumented operation") {
			t.Errorf("an undocumented route answering 200: Err() = %v", err)
		}
	}
}

func TestAPICheckWantsSomethingChecked(t *testing.T) {
	if err := NewAPICheck(nil).Err(); err == nil || !strings.Contains(err.Error(), "no native API response") {
		t.Errorf("Err() of an unused check = %v, want an error", err)
	}
}

func TestAPICheckWebhooks(t *testing.T) {
	a := NewAPICheck(nil)
	a.RecordWebhook([]byte(`{"request_id":"r","res":{"error":"the job could not be judged"}}`))
	if err := a.Err(); err != nil {
		t.Error(err)
	}
	a.RecordWebhook([]byte(`{"request_id":"r","result":{}}`))
	if err := a.Err(); err == nil || !strings.Contains(err.Error(), "webhook") {
		t.Errorf("a webhook without res: Err() = %v", err)
	}
}
