package compat

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// judge0Headers are what Judge0's clients send on every request: the SDK
// and the IDE set Content-Type even on GETs, and app headers the server
// ignores.
var judge0Headers = map[string]string{
	"Content-Type":         "application/json",
	"Accept":               "application/json",
	"X-Judge0-App":         "judge0-python",
	"X-Judge0-App-Version": "0.0.8",
}

// submissionColumns are v1.13.1's fields: a response may hold no other key
// (the Python SDK fails on unknown ones).
var submissionColumns = []string{
	"source_code", "language_id", "stdin", "expected_output", "stdout", "status_id", "created_at",
	"finished_at", "time", "memory", "stderr", "token", "number_of_runs", "cpu_time_limit",
	"cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit", "max_processes_and_or_threads",
	"enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit",
	"max_file_size", "compile_output", "exit_code", "exit_signal", "message", "wall_time",
	"compiler_options", "command_line_arguments", "redirect_stderr_to_stdout", "callback_url",
	"additional_files", "enable_network", "status", "language",
}

// sdkTime is what the SDK's strptime("%Y-%m-%dT%H:%M:%S.%fZ") accepts.
var sdkTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,6}Z$`)

type judge0 struct{ base string }

func (j judge0) get(t *testing.T, path string, v any) int {
	t.Helper()
	code, body := do(t, http.MethodGet, j.base+path, "", "", judge0Headers)
	if v != nil && code < 300 {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return code
}

func (j judge0) post(t *testing.T, path string, body any, v any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	code, out := do(t, http.MethodPost, j.base+path, "", string(b), judge0Headers)
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			t.Fatalf("POST %s: %d %v: %s", path, code, err, out)
		}
	}
	return code, out
}

// submission is what the SDK reads of an answer.
type submission map[string]any

func (s submission) statusID() int {
	st, _ := s["status"].(map[string]any)
	id, _ := st["id"].(float64)
	return int(id)
}

// text is a text field, base64-decoded when b64; null is "".
func (s submission) text(t *testing.T, field string, b64 bool) string {
	t.Helper()
	v, _ := s[field].(string)
	if !b64 || v == "" {
		return v
	}
	b, err := base64.StdEncoding.Strict().DecodeString(v)
	if err != nil {
		t.Fatalf("%s %q is not strict base64: %v", field, v, err)
	}
	return string(b)
}

func (s submission) checkKeys(t *testing.T) {
	t.Helper()
	for k := range s {
		if !slices.Contains(submissionColumns, k) {
			t.Errorf("answer has key %q, which Judge0 1.13.1 does not have", k)
		}
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// poll reads submission token as the SDK does, every 100 ms with
// fields=*, until its status is neither In Queue nor Processing.
func (j judge0) poll(t *testing.T, token string, b64 bool) submission {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var s submission
		if code := j.get(t, fmt.Sprintf("/submissions/%s?base64_encoded=%v&fields=%s", token, b64, url.QueryEscape("*")), &s); code != 200 {
			t.Fatalf("GET submission %s: %d", token, code)
		}
		if id := s.statusID(); id != 1 && id != 2 {
			s.checkKeys(t)
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("submission %s still %v after 3 minutes", token, s["status"])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// What the SDK reads before it submits: /about (it picks its language
// table by the version), /config_info (every key), /languages.
func TestJudge0Discovery(t *testing.T) {
	start(t)
	j := judge0{shared.URL() + "/judge0"}
	var about map[string]any
	if code := j.get(t, "/about", &about); code != 200 || about["version"] != "1.13.1" {
		t.Fatalf("about: %d %v", code, about)
	}
	for _, k := range []string{"homepage", "source_code", "maintainer"} {
		if s, ok := about[k].(string); !ok || s == "" {
			t.Errorf("about.%s = %v, want a string", k, about[k])
		}
	}
	var info map[string]any
	if code := j.get(t, "/config_info", &info); code != 200 || len(info) != 39 {
		t.Errorf("config_info: %d, %d keys, want 39", code, len(info))
	}
	var langs []map[string]any
	j.get(t, "/languages", &langs)
	ids := map[int]string{}
	for _, l := range langs {
		ids[int(l["id"].(float64))] = l["name"].(string)
	}
	for _, id := range []int{50, 52, 54, 60, 62, 63, 71, 73, 74, 78} {
		if ids[id] == "" {
			t.Errorf("/languages lacks id %d: %v", id, langs)
		}
	}
	if !strings.HasPrefix(ids[71], "Python (3.") {
		t.Errorf("id 71 is %q, want Python with its version", ids[71])
	}
	var statuses []map[string]any
	if j.get(t, "/statuses", &statuses); len(statuses) != 14 {
		t.Errorf("statuses: %v", statuses)
	}
	var workers []map[string]any
	j.get(t, "/workers", &workers)
	if len(workers) != 1 || len(workers[0]) != 7 {
		t.Errorf("workers: %v", workers)
	}
}

// One submission with base64 on, polled; one with base64 off, polled;
// one with wait=true, answered at once.
func TestJudge0Single(t *testing.T) {
	start(t)
	j := judge0{shared.URL() + "/judge0"}
	var created map[string]string
	code, body := j.post(t, "/submissions?base64_encoded=true&wait=false", map[string]any{
		"source_code": b64("print(input())"), "language_id": 71, "stdin": b64("hi"), "expected_output": b64("hi"),
		// The SDK sends its limits as floats.
		"cpu_time_limit": 2.0, "memory_limit": 128000.0,
	}, &created)
	if code != 201 || len(created) != 1 || created["token"] == "" {
		t.Fatalf("create: %d %s", code, body)
	}
	s := j.poll(t, created["token"], true)
	if s.statusID() != 3 || s.text(t, "stdout", true) != "hi\n" || s.text(t, "source_code", true) != "print(input())" {
		t.Errorf("base64 submission: %v", s)
	}
	for _, f := range []string{"created_at", "finished_at"} {
		if v, _ := s[f].(string); !sdkTime.MatchString(v) {
			t.Errorf("%s = %v, not in the SDK's format", f, s[f])
		}
	}
	if _, ok := s["time"].(string); !ok {
		t.Errorf("time %v, want a decimal string", s["time"])
	}
	if m, ok := s["memory"].(float64); !ok || m <= 0 || s["memory_limit"] != 128000.0 {
		t.Errorf("memory %v memory_limit %v", s["memory"], s["memory_limit"])
	}

	code, body = j.post(t, "/submissions?base64_encoded=false", map[string]any{
		"source_code": "print('é' + input())", "language_id": "71", "stdin": "x",
	}, &created)
	if code != 201 {
		t.Fatalf("create, base64 off: %d %s", code, body)
	}
	if s := j.poll(t, created["token"], false); s.statusID() != 3 || s["stdout"] != "éx\n" {
		t.Errorf("plain submission: %v", s)
	}

	var waited submission
	code, body = j.post(t, "/submissions?base64_encoded=false&wait=true", map[string]any{
		"source_code": "print(6 * 7)", "language_id": 71, "expected_output": "42",
	}, &waited)
	if code != 201 || waited.statusID() != 3 || waited["stdout"] != "42\n" || waited["token"] == "" {
		t.Errorf("wait=true: %d %s", code, body)
	}
	waited.checkKeys(t)
	if len(waited) != 8 {
		t.Errorf("wait=true without fields: %d keys, want the 8 default ones", len(waited))
	}
}

// A batch (as the SDK sends test cases) that meets Judge0's statuses for
// Accepted, Wrong Answer, Compilation Error, Time Limit Exceeded and a
// SIGSEGV, read back through the batch endpoint.
func TestJudge0BatchStatuses(t *testing.T) {
	start(t)
	j := judge0{shared.URL() + "/judge0"}
	cases := []struct {
		name   string
		sub    map[string]any
		status int
	}{
		{"accepted", map[string]any{"source_code": b64("print(int(input()) * 2)"), "language_id": 71, "stdin": b64("21"), "expected_output": b64("42\n")}, 3},
		{"wrong answer", map[string]any{"source_code": b64("print(41)"), "language_id": 71, "expected_output": b64("42")}, 4},
		{"compilation error", map[string]any{"source_code": b64("int main() { return nope; }"), "language_id": 54}, 6},
		{"time limit", map[string]any{"source_code": b64("while True:\n    pass\n"), "language_id": 71, "cpu_time_limit": 1}, 5},
		{"sigsegv", map[string]any{"source_code": b64("int main(void) { volatile int *p = 0; *p = 1; return 0; }"), "language_id": 50}, 7},
	}
	subs := make([]map[string]any, len(cases))
	for i, c := range cases {
		subs[i] = c.sub
	}
	var created []map[string]any
	code, body := j.post(t, "/submissions/batch?base64_encoded=true", map[string]any{"submissions": subs}, &created)
	if code != 201 || len(created) != len(cases) {
		t.Fatalf("batch create: %d %s", code, body)
	}
	tokens := make([]string, len(created))
	for i, c := range created {
		tok, _ := c["token"].(string)
		if tok == "" {
			t.Fatalf("batch item %d: %v", i, c)
		}
		tokens[i] = tok
	}
	path := "/submissions/batch?tokens=" + url.QueryEscape(strings.Join(tokens, ",")) + "&base64_encoded=true&fields=" + url.QueryEscape("*")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var got struct{ Submissions []submission }
		if code := j.get(t, path, &got); code != 200 || len(got.Submissions) != len(cases) {
			t.Fatalf("batch get: %d %v", code, got)
		}
		done := 0
		for _, s := range got.Submissions {
			if id := s.statusID(); id != 1 && id != 2 {
				done++
			}
		}
		if done == len(cases) {
			for i, c := range cases {
				s := got.Submissions[i]
				s.checkKeys(t)
				if s.statusID() != c.status {
					t.Errorf("%s: status %v (message %q, compile_output %q), want %d", c.name, s["status"], s.text(t, "message", true), s.text(t, "compile_output", true), c.status)
				}
			}
			ce := got.Submissions[2]
			if !strings.Contains(ce.text(t, "compile_output", true), "nope") || ce["time"] != nil || ce["stdout"] != nil {
				t.Errorf("compilation error: compile_output %q time %v stdout %v", ce.text(t, "compile_output", true), ce["time"], ce["stdout"])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch not done after 3 minutes: %v", got.Submissions)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A submission with callback_url is PUT to it when done, with the default
// fields, base64-encoded.
func TestJudge0Callback(t *testing.T) {
	start(t)
	type call struct {
		method string
		body   []byte
	}
	calls := make(chan call, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls <- call{r.Method, b}
	}))
	defer receiver.Close()

	j := judge0{shared.URL() + "/judge0"}
	var created map[string]string
	code, body := j.post(t, "/submissions?base64_encoded=false", map[string]any{
		"source_code": "print('called back')", "language_id": 71, "callback_url": receiver.URL + "/judge0-hook",
	}, &created)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	select {
	case c := <-calls:
		var s submission
		if err := json.Unmarshal(c.body, &s); err != nil {
			t.Fatalf("callback body: %v: %s", err, c.body)
		}
		if c.method != http.MethodPut || s["token"] != created["token"] || s.statusID() != 3 || s.text(t, "stdout", true) != "called back\n" {
			t.Errorf("callback %s %s", c.method, c.body)
		}
		s.checkKeys(t)
	case <-time.After(3 * time.Minute):
		t.Fatal("no callback within 3 minutes")
	}
	// A delivered callback is not sent again.
	select {
	case c := <-calls:
		t.Errorf("second callback: %s %s", c.method, c.body)
	case <-time.After(500 * time.Millisecond):
	}
}

// Bad input gets Judge0's shapes: 422 with a map of field messages, per
// item in a batch; 400 for unknown fields; 404 for unknown tokens.
func TestJudge0Invalid(t *testing.T) {
	start(t)
	j := judge0{shared.URL() + "/judge0"}
	var errs map[string][]string
	code, body := j.post(t, "/submissions", map[string]any{"language_id": 4242, "enable_network": true}, &errs)
	if code != 422 || len(errs["source_code"]) != 1 || !strings.Contains(errs["language_id"][0], "4242") || errs["enable_network"][0] != "enabling network is not allowed" {
		t.Errorf("invalid: %d %s", code, body)
	}
	code, body = j.post(t, "/submissions", map[string]any{"source_code": "x", "language_id": 71, "cpu_time_limit": 1000}, &errs)
	if code != 422 || len(errs["cpu_time_limit"]) != 1 {
		t.Errorf("limit over Pecan's: %d %s", code, body)
	}
	var items []map[string]any
	code, body = j.post(t, "/submissions/batch", map[string]any{"submissions": []any{
		map[string]any{"source_code": "print(1)", "language_id": 71},
		map[string]any{"language_id": 71},
	}}, &items)
	if code != 201 || len(items) != 2 || items[0]["token"] == nil || items[1]["source_code"] == nil {
		t.Errorf("half-valid batch: %d %s", code, body)
	}
	if code := j.get(t, "/submissions/00000000-0000-4000-8000-000000000000", nil); code != 404 {
		t.Errorf("unknown token: %d", code)
	}
	if code, body := get(t, j.base+"/submissions/x?fields=stdout,started_at", nil); code != 400 || !strings.Contains(string(body), "invalid fields: [started_at]") {
		t.Errorf("unknown field: %d %s", code, body)
	}
}

// Judge0's clients expect the API at the root of a server: the listener of
// [judge0] listen serves it there.
func TestJudge0RootListener(t *testing.T) {
	start(t)
	j := judge0{judge0Root}
	var about map[string]any
	if code := j.get(t, "/about", &about); code != 200 || about["version"] != "1.13.1" {
		t.Fatalf("about at the root: %d %v", code, about)
	}
	var s submission
	code, body := j.post(t, "/submissions?wait=true", map[string]any{"source_code": "print('root')", "language_id": 71}, &s)
	if code != 201 || s["stdout"] != "root\n" || s.statusID() != 3 {
		t.Errorf("submission at the root: %d %s", code, body)
	}
}
