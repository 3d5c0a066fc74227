package judge0

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/pecan-judge/pecan/config"
	pecanhttp "github.com/pecan-judge/pecan/http"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
)

func TestStatusOf(t *testing.T) {
	for _, c := range []struct {
		resp *messages.ExecuteResponse
		want int
	}{
		{&messages.ExecuteResponse{Code: 0}, statusAccepted},
		{&messages.ExecuteResponse{Code: 1}, statusWrongAnswer},
		{&messages.ExecuteResponse{Code: 2}, statusCompileError},
		{&messages.ExecuteResponse{Code: 3, Signal: 11}, statusSIGSEGV},
		{&messages.ExecuteResponse{Code: 3, Signal: 25}, statusSIGXFSZ},
		{&messages.ExecuteResponse{Code: 3, Signal: 8}, statusSIGFPE},
		{&messages.ExecuteResponse{Code: 3, Signal: 6}, statusSIGABRT},
		{&messages.ExecuteResponse{Code: 3, Signal: 9}, statusOther},
		{&messages.ExecuteResponse{Code: 3, ExitCode: 1}, statusNZEC},
		{&messages.ExecuteResponse{Code: 4}, statusTLE},
		{&messages.ExecuteResponse{Code: 5}, statusOther},
		{&messages.ExecuteResponse{Code: 6}, statusInternal},
		{&messages.ExecuteResponse{Code: 7}, statusSIGXFSZ},
		{&messages.ExecuteResponse{Failure: messages.Failure_FAILURE_INTERNAL}, statusInternal},
	} {
		if got, _ := statusOf(c.resp); got != c.want {
			t.Errorf("statusOf(%v) = %d, want %d", c.resp, got, c.want)
		}
	}
	if _, msg := statusOf(&messages.ExecuteResponse{Code: 5}); !strings.Contains(msg, "Memory") {
		t.Errorf("memory limit message %q does not say which limit", msg)
	}
}

func testSubmission() *submission {
	s := &submission{Token: "tok", SourceCode: []byte("print(1)"), LanguageID: 71, LanguageName: "Python (3.11.2)",
		CreatedAt: time.Date(2024, 12, 9, 17, 22, 55, 662e6, time.UTC), CPUTimeLimit: 2, WallTimeLimit: 7, MemoryLimit: 128000, StatusID: statusInQueue}
	return s
}

func TestViewFormats(t *testing.T) {
	s := testSubmission()
	v, err := s.view(allFields, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != len(allFields) || len(allFields) != 35 {
		t.Errorf("fields=* gave %d keys, want Judge0's 35", len(v))
	}
	for _, f := range []string{"stdout", "time", "memory", "finished_at", "stdin", "expected_output"} {
		if v[f] != nil {
			t.Errorf("queued %s = %v, want null", f, v[f])
		}
	}
	if v["created_at"] != "2024-12-09T17:22:55.662Z" {
		t.Errorf("created_at %v, want Judge0's format with milliseconds and Z", v["created_at"])
	}
	if st := v["status"].(map[string]any); st["id"] != statusInQueue || st["description"] != "In Queue" {
		t.Errorf("status %v", st)
	}

	s.judged(&messages.ExecuteResponse{Code: 0, Stdout: []byte("1\n"), Time: 0.0123, WallTime: 0.05, MemoryKib: 3000}, time.Now())
	v, _ = s.view(defaultFields, true)
	if v["stdout"] != base64.StdEncoding.EncodeToString([]byte("1\n")) || v["stderr"] != nil || v["time"] != "0.012" || v["memory"] != int64(3000) {
		t.Errorf("judged, base64: %v", v)
	}
	if _, ok := v["source_code"]; ok {
		t.Error("default fields include source_code")
	}

	s.Stdout = []byte{0xff, 0xfe}
	if _, err := s.view(defaultFields, false); !errors.Is(err, errNotUTF8) {
		t.Errorf("non-UTF-8 output without base64: %v, want errNotUTF8", err)
	}
	if v, err := s.view(defaultFields, true); err != nil || v["stdout"] != "//4=" {
		t.Errorf("non-UTF-8 output with base64: %v %v", v["stdout"], err)
	}
}

func TestCompileErrorHasNoOutputOrMeasurements(t *testing.T) {
	s := testSubmission()
	s.judged(&messages.ExecuteResponse{Code: 2, CompileOutput: "main.cpp:1: error", Time: 1, MemoryKib: 9}, time.Now())
	v, _ := s.view(allFields, false)
	if v["status_id"] != statusCompileError || v["compile_output"] != "main.cpp:1: error" || v["time"] != nil || v["memory"] != nil || v["stdout"] != nil {
		t.Errorf("compile error view %v", v)
	}
}

func TestParseFields(t *testing.T) {
	if f, _ := parseFields(""); !slices.Equal(f, defaultFields) {
		t.Errorf("no fields: %v", f)
	}
	if f, _ := parseFields("*"); !slices.Equal(f, allFields) {
		t.Errorf("*: %v", f)
	}
	if f, err := parseFields("stdout,status_id"); err != nil || !slices.Equal(f, []string{"stdout", "status_id"}) {
		t.Errorf("list: %v %v", f, err)
	}
	if _, err := parseFields("stdout,started_at"); err == nil || err.Error() != "invalid fields: [started_at]" {
		t.Errorf("unknown field: %v", err)
	}
}

func TestConfigInfoHasEveryKey(t *testing.T) {
	l := config.Default().Limits
	info := configInfo(l, 10*time.Second, 100)
	if len(info) != 39 {
		t.Errorf("%d keys, want Judge0's 39", len(info))
	}
	if info["max_cpu_time_limit"] != l.MaxTime || info["memory_limit"] != l.DefaultMemoryKiB || info["callbacks_timeout"] != 10.0 {
		t.Errorf("limits are not Pecan's: %v", info)
	}
}

func TestRenderAndCallback(t *testing.T) {
	meta, _ := json.Marshal(testSubmission())
	stored, err := Render(&messages.ExecuteResponse{Code: 1, Stdout: []byte("2\n")}, meta)
	if err != nil {
		t.Fatal(err)
	}
	body, err := Callback("tok", stored)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(defaultFields) || got["token"] != "tok" || got["stdout"] != "Mgo=" {
		t.Errorf("callback body %s", body)
	}
	if st := got["status"].(map[string]any); st["id"] != float64(statusWrongAnswer) {
		t.Errorf("callback status %v", st)
	}
}

// fakeJudge answers every request with resp.
type fakeJudge struct {
	resp func(*messages.ExecuteRequest) *messages.ExecuteResponse
	last *messages.ExecuteRequest
}

func (f *fakeJudge) Execute(_ context.Context, req *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
	f.last = req
	r := f.resp(req)
	r.RequestId = req.RequestId
	return r, nil
}

func (f *fakeJudge) Status(context.Context) (*messages.PoolStatus, error) {
	return &messages.PoolStatus{Available: 2, Idle: 1, Running: 1}, nil
}

func testRegistry(t *testing.T) *languages.Registry {
	t.Helper()
	reg, err := languages.New(map[string]config.Language{
		"python": {Name: "Python 3", Source: "main.py", Run: []string{"/usr/bin/python3", "main.py"}},
		"cpp":    {Name: "C++", Source: "main.cpp", Compile: []string{"/usr/bin/g++", "main.cpp"}, Run: []string{"./a.out"}},
	}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"python", "cpp"} {
		l, _ := reg.Lookup(id)
		l.Available, l.ToolVersion = true, "12.2.0"
	}
	return reg
}

const token = "judge0-test-token-0123456789"

func testApp(t *testing.T, j *fakeJudge) *fiber.App {
	return pecanhttp.New(pecanhttp.Options{
		Auth:   config.Auth{Tokens: []string{token}},
		Compat: []pecanhttp.Routes{Routes("/judge0", Options{Retention: time.Hour})},
	}, testRegistry(t), j)
}

func call(t *testing.T, app *fiber.App, method, target, body string, auth bool) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := app.Test(req, 5000)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPI(t *testing.T) {
	j := &fakeJudge{resp: func(*messages.ExecuteRequest) *messages.ExecuteResponse {
		return &messages.ExecuteResponse{Code: 0, Status: "Accepted", Stdout: []byte("hi\n")}
	}}
	app := testApp(t, j)

	if code, _ := call(t, app, "GET", "/judge0/about", "", false); code != nethttp.StatusUnauthorized {
		t.Errorf("no X-Auth-Token: %d, want 401", code)
	}
	if code, body := call(t, app, "GET", "/judge0/about", "", true); code != 200 || !strings.Contains(body, `"version":"1.13.1"`) {
		t.Errorf("about: %d %s", code, body)
	}
	code, body := call(t, app, "POST", "/judge0/submissions?base64_encoded=true&wait=true",
		`{"source_code":"cHJpbnQoaW5wdXQoKSk=","language_id":71,"stdin":"aGk=","expected_output":"aGk=","memory_limit":128000.0,"cpu_time_limit":"1"}`, true)
	if code != 201 || !strings.Contains(body, `"stdout":"aGkK"`) || !strings.Contains(body, `"id":3`) {
		t.Errorf("wait=true: %d %s", code, body)
	}
	if string(j.last.Code) != "print(input())" || string(j.last.Stdin) != "hi" || string(j.last.DesiredStdout) != "hi" ||
		j.last.Limits.MemoryKib != 128000 || j.last.Limits.CpuSeconds != 1 || j.last.Checker != "lines" || j.last.Language != "python" {
		t.Errorf("native request %v", j.last)
	}
	call(t, app, "POST", "/judge0/submissions?wait=true", `{"source_code":"x","language_id":54}`, true)
	if j.last.Checker != "any" || j.last.Language != "cpp" {
		t.Errorf("no expected_output: checker %q language %q, want any and cpp", j.last.Checker, j.last.Language)
	}

	code, body = call(t, app, "POST", "/judge0/submissions", `{"language_id":5,"enable_network":true,"cpu_time_limit":"x"}`, true)
	var errs map[string][]string
	if code != 422 || json.Unmarshal([]byte(body), &errs) != nil || len(errs["source_code"]) != 1 || len(errs["language_id"]) != 1 ||
		errs["enable_network"][0] != "enabling network is not allowed" || len(errs["cpu_time_limit"]) != 1 {
		t.Errorf("invalid submission: %d %s", code, body)
	}
	code, body = call(t, app, "POST", "/judge0/submissions", `{"source_code":"x","language_id":71,"memory_limit":99999999}`, true)
	if code != 422 || !strings.HasPrefix(body, `{"memory_limit":["must be between`) {
		t.Errorf("limit refused by the native validation: %d %s", code, body)
	}
	// No async queue in this app: queued submissions are refused, not lost.
	if code, _ := call(t, app, "POST", "/judge0/submissions", `{"source_code":"x","language_id":71}`, true); code != 503 {
		t.Errorf("queued submission without a queue: %d, want 503", code)
	}
	if code, body := call(t, app, "POST", "/judge0/submissions/batch", `{"submissions":[]}`, true); code != 400 {
		t.Errorf("empty batch: %d %s", code, body)
	}
	if code, body := call(t, app, "POST", "/judge0/submissions/batch", `{"submissions":[{"language_id":71}]}`, true); code != 422 || !strings.HasPrefix(body, `[{"source_code"`) {
		t.Errorf("all-invalid batch: %d %s", code, body)
	}
	if code, body := call(t, app, "GET", "/judge0/submissions/nope?fields=bogus", "", true); code != 400 || !strings.Contains(body, "invalid fields: [bogus]") {
		t.Errorf("bad fields: %d %s", code, body)
	}
	if code, body := call(t, app, "GET", "/judge0/languages", "", true); code != 200 || body != `[{"id":52,"name":"C++ (GCC 12.2.0)"},{"id":54,"name":"C++ (GCC 12.2.0)"},{"id":71,"name":"Python (12.2.0)"}]` {
		t.Errorf("languages: %d %s", code, body)
	}
	if code, body := call(t, app, "GET", "/judge0/workers", "", true); code != 200 || !strings.Contains(body, `"working":1`) {
		t.Errorf("workers: %d %s", code, body)
	}
}

func TestRootListener(t *testing.T) {
	_, app := pecanhttp.NewWithRoot(pecanhttp.Options{}, testRegistry(t), &fakeJudge{}, Routes("", Options{Retention: time.Hour}))
	if code, body := call(t, app, "GET", "/about", "", false); code != 200 || !strings.Contains(body, `"version":"1.13.1"`) {
		t.Errorf("about at the root: %d %s", code, body)
	}
	if code, _ := call(t, app, "GET", "/v1/health", "", false); code != 404 {
		t.Errorf("native API on the Judge0 listener: %d, want 404", code)
	}
}
