package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// event is one server-sent event.
type event struct{ name, data string }

// streamSubmission posts sub asking for an event stream and reads the
// events until the server ends the stream.
func streamSubmission(t *testing.T, sub testserver.Submission) (*http.Response, []event) {
	t.Helper()
	body, _ := json.Marshal(sub)
	req, err := http.NewRequest(http.MethodPost, baseURL+"/v1/judge/submission", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	inFlight <- struct{}{}
	defer func() { <-inFlight }()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var events []event
	var cur event
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.name != "" || cur.data != "" {
				events = append(events, cur)
			}
			cur = event{}
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data += strings.TrimPrefix(line, "data: ")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read the stream: %v", err)
	}
	return resp, events
}

// TestSubmissionEventStream: on a pool of two, the first of two tests
// sleeps and the second does not; the stream has the second test's event
// first (completion order), then the first's, then the whole answer. It
// is not parallel, so that the second test need not wait for a sandbox
// the suite's other tests hold.
func TestSubmissionEventStream(t *testing.T) {
	startSerial(t)
	py := "import sys, time\nw = sys.stdin.read().strip()\nif w == 'slow': time.sleep(3)\nprint(w)\n"
	tests := []testserver.InlineTest{{Name: "slow", Stdin: "slow", Answer: "slow"}, {Name: "quick", Stdin: "quick", Answer: "quick"}}
	resp, events := streamSubmission(t, testserver.Submission{Language: "python", Code: py, Tests: tests, Mode: "all", TimeLimit: 1, WallLimit: 10})
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("HTTP %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var names []string
	for _, e := range events {
		names = append(names, e.name)
	}
	if want := []string{"test", "test", "result"}; !slices.Equal(names, want) {
		t.Fatalf("events %v (%v), want %v", names, events, want)
	}
	var order []string
	for i, e := range events[:2] {
		var te struct {
			Name       string `json:"name"`
			Status     string `json:"status"`
			TestsDone  int    `json:"tests_done"`
			TestsTotal int    `json:"tests_total"`
		}
		if err := json.Unmarshal([]byte(e.data), &te); err != nil {
			t.Fatalf("test event %q: %v", e.data, err)
		}
		if te.Status != "Accepted" || te.TestsDone != i+1 || te.TestsTotal != 2 {
			t.Errorf("test event %d: %+v", i, te)
		}
		order = append(order, te.Name)
	}
	if want := []string{"quick", "slow"}; !slices.Equal(order, want) {
		t.Errorf("tests streamed as %v, want the order they finished in, %v", order, want)
	}
	var final testserver.SubmissionResult
	if err := json.Unmarshal([]byte(events[2].data), &final); err != nil {
		t.Fatalf("result event %q: %v", events[2].data, err)
	}
	if final.Code != testserver.Accepted || len(final.Tests) != 2 || final.Tests[0].Name != "slow" {
		t.Errorf("final answer %s: want Accepted with the tests in order", &final)
	}

	// An invalid submission is refused as usual, before any stream.
	bad, _ := streamSubmission(t, testserver.Submission{Language: "cobol", Code: "x", Tests: tests})
	if bad.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown language: HTTP %d, want 400", bad.StatusCode)
	}
}

// TestSubmissionAsyncProgress: while an async submission runs, its
// result says how many of its tests have finished.
func TestSubmissionAsyncProgress(t *testing.T) {
	start(t)
	py := "import sys, time\nw = sys.stdin.read().strip()\nif w == 'slow': time.sleep(3)\nprint(w)\n"
	tests := []testserver.InlineTest{{Stdin: "quick", Answer: "quick"}, {Stdin: "slow", Answer: "slow"}, {Stdin: "slow", Answer: "slow"}}
	body, _ := json.Marshal(testserver.Submission{Language: "python", Code: py, Tests: tests, Mode: "all", TimeLimit: 1, WallLimit: 10})
	status, b := post(t, "/v1/judge/submission-async", "application/json", body)
	var acc struct {
		RequestID string `json:"request_id"`
	}
	if status != http.StatusOK || json.Unmarshal(b, &acc) != nil || acc.RequestID == "" {
		t.Fatalf("submission-async: HTTP %d %s", status, b)
	}
	deadline := time.Now().Add(2 * time.Minute)
	var seen []string
	for {
		resp, err := client.Get(baseURL + "/v1/judge/result/" + acc.RequestID)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			State      string `json:"state"`
			TestsDone  *int   `json:"tests_done"`
			TestsTotal *int   `json:"tests_total"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st.State == "done" {
			break
		}
		if st.TestsDone != nil && st.TestsTotal != nil {
			if *st.TestsTotal != 3 || *st.TestsDone > 3 {
				t.Fatalf("progress %d of %d, want of 3", *st.TestsDone, *st.TestsTotal)
			}
			if p := fmt.Sprintf("%d/%d", *st.TestsDone, *st.TestsTotal); len(seen) == 0 || seen[len(seen)-1] != p {
				seen = append(seen, p)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("async submission still %s", st.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The quick test finishes seconds before the slow ones.
	if !slices.Contains(seen, "1/3") {
		t.Errorf("progress seen while running: %v, want 1/3 among them", seen)
	}
}
