package http

import (
	"context"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/actors"
	"github.com/pecan-judge/pecan/messages"
)

// progressJudge tells of two tests, the second one first, then answers
// with resp.
type progressJudge struct {
	*fakeJudge
	resp *messages.ExecuteResponse
}

func (p progressJudge) ExecuteWithProgress(_ context.Context, req *messages.ExecuteRequest, progress actors.Progress) (*messages.ExecuteResponse, error) {
	progress(nil, 0, 2)
	progress(&messages.TestResult{Name: "b", Status: "Accepted"}, 1, 2)
	progress(&messages.TestResult{Name: "a", Status: "WrongAnswer", Code: 1}, 2, 2)
	p.resp.RequestId = req.RequestId
	return p.resp, nil
}

func streamRequest() *nethttp.Request {
	req := httptest.NewRequest(nethttp.MethodPost, "/v1/judge/submission", strings.NewReader(
		`{"language": "python", "code": "print(1)", "tests": [{"name": "a", "stdin": "", "answer": "2"}, {"name": "b", "stdin": "", "answer": "1"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	return req
}

// streamDo serves req by an app over j.
func streamDo(t *testing.T, j Judge, req *nethttp.Request) (*nethttp.Response, string) {
	t.Helper()
	app := New(Options{Version: "test", Limits: testLimits, BodyLimit: testBodyLimit, QueueTimeout: 30 * time.Second}, testRegistry(t), j)
	resp, body := do(t, app, req)
	return resp, string(body)
}

func TestSubmissionStream(t *testing.T) {
	done := &messages.ExecuteResponse{Submission: true, Code: 1, Status: "WrongAnswer", Tests: []*messages.TestResult{
		{Name: "a", Status: "WrongAnswer", Code: 1}, {Name: "b", Status: "Accepted"}}}
	resp, body := streamDo(t, progressJudge{&fakeJudge{}, done}, streamRequest())
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HTTP %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	events := strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n")
	if len(events) != 3 {
		t.Fatalf("%d events, want 3: %q", len(events), body)
	}
	for i, want := range []string{`event: test` + "\n" + `data: {"name":"b",`, `event: test` + "\n" + `data: {"name":"a",`, "event: result\ndata: {\"code\":1,"} {
		if !strings.HasPrefix(events[i], want) {
			t.Errorf("event %d = %q, want it to start %q", i, events[i], want)
		}
	}
	if !strings.Contains(events[1], `"tests_done":2,"tests_total":2`) || !strings.Contains(events[2], `"tests":[{"name":"a"`) {
		t.Errorf("events %q", events)
	}

	busy := &messages.ExecuteResponse{Failure: messages.Failure_FAILURE_BUSY, Error: "all busy"}
	_, body = streamDo(t, progressJudge{&fakeJudge{}, busy}, streamRequest())
	if !strings.HasSuffix(body, "event: error\ndata: {\"error\":\"all busy\",\"status\":503}\n\n") {
		t.Errorf("busy pool: %q, want an error event with 503", body)
	}

	// A judge that cannot tell of progress: 406, the client may ask for
	// JSON instead.
	resp, body = streamDo(t, &fakeJudge{}, streamRequest())
	if resp.StatusCode != nethttp.StatusNotAcceptable || !strings.Contains(body, `"error"`) {
		t.Errorf("no progress: HTTP %d %s, want 406", resp.StatusCode, body)
	}
}
