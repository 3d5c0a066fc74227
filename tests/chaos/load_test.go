package chaos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

const (
	jobs          = 200
	concurrency   = 8
	clientTimeout = 90 * time.Second
	recoverWithin = 2 * time.Second // the requirement
	maxFailShare  = 0.05            // of jobs answered 500 under injected faults
)

// aPlusB is fast: the load is about sandboxes, not about programs.
var aPlusB = testserver.Job{
	Code:          "a, b = map(int, input().split())\nprint(a + b)\n",
	Language:      "python",
	Stdin:         "1 2\n",
	DesiredStdout: "3\n",
	TimeLimit:     1,
	MemoryLimit:   65536,
}

// verdict is the part of a judge-single response the chaos tests check.
type verdict struct {
	Code      *int   `json:"code"`
	Status    string `json:"status"`
	Stdout    string `json:"stdout"`
	Stderr    string `json:"stderr"`
	RequestID string `json:"request_id"`
	Sandbox   string `json:"sandbox"`
}

// answer is what one client saw.
type answer struct {
	status int
	body   []byte
	err    error // no HTTP answer: timeout, refused, dropped connection
	took   time.Duration
}

func (a answer) String() string {
	if a.err != nil {
		return fmt.Sprintf("no answer after %s: %v", a.took.Round(time.Millisecond), a.err)
	}
	return fmt.Sprintf("HTTP %d after %s: %s", a.status, a.took.Round(time.Millisecond), clip(string(a.body)))
}

func clip(s string) string { return testserver.Clip(s, 300) }

// loadClient keeps one connection per concurrent client, as a real
// client pool would.
var loadClient = &http.Client{
	Timeout:   clientTimeout,
	Transport: apiCheck,
}

func postJSON(c *http.Client, url string, v any) answer {
	body, err := json.Marshal(v)
	if err != nil {
		return answer{err: err}
	}
	start := time.Now()
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: b, err: err, took: time.Since(start)}
}

// load sends n copies of j, conc at a time, and returns every answer and
// the moment the last one came back.
func load(base string, n, conc int, j testserver.Job) ([]answer, time.Time) {
	answers := make([]answer, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				answers[i] = postJSON(loadClient, base+"/v1/judge/judge-single", j)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return answers, time.Now()
}

// checkAnswers wants an HTTP answer to every request: 200 with an Accepted
// verdict of "3\n" and a request id never seen before, or 500 with a JSON
// error; and no more than maxFailed of 500s.
func checkAnswers(t *testing.T, answers []answer, maxFailed int) {
	t.Helper()
	ids := map[string]int{}
	var ok, failed, lost, bad int
	for i, a := range answers {
		switch {
		case a.err != nil:
			lost++
			t.Errorf("job %d lost: %s", i, a)
		case a.status == http.StatusOK:
			var v verdict
			if err := json.Unmarshal(a.body, &v); err != nil || v.Code == nil || *v.Code != 0 ||
				v.Status != "Accepted" || v.Stdout != "3\n" || v.RequestID == "" {
				bad++
				t.Errorf("job %d: malformed or wrong 200 answer: %s", i, a)
				continue
			}
			if prev, dup := ids[v.RequestID]; dup {
				bad++
				t.Errorf("jobs %d and %d were both answered with request_id %s", prev, i, v.RequestID)
				continue
			}
			ids[v.RequestID] = i
			ok++
		case a.status == http.StatusInternalServerError && isJSONError(a.body):
			failed++
			t.Logf("job %d: %s", i, a)
		default:
			bad++
			t.Errorf("job %d: unexpected answer: %s", i, a)
		}
	}
	t.Logf("%d jobs: %d accepted, %d internal errors (500), %d lost, %d bad", len(answers), ok, failed, lost, bad)
	if failed > maxFailed {
		t.Errorf("%d of %d jobs answered 500 (want at most %d)", failed, len(answers), maxFailed)
	}
}

func isJSONError(body []byte) bool {
	var e struct {
		Error *string `json:"error"`
	}
	return json.Unmarshal(body, &e) == nil && e.Error != nil && *e.Error != ""
}

var pollClient = &http.Client{Timeout: 5 * time.Second, Transport: apiCheck}

func getJSON(url string, v any) error {
	resp, err := pollClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, clip(string(b)))
	}
	return json.Unmarshal(b, v)
}

func (s *server) status() (*testserver.Status, error) {
	return testserver.GetStatus(pollClient, s.URL())
}

// waitFullStrength polls until pool sandboxes are idle, none is in error
// or starting, and the inits of pool settled sandboxes are alive (an idle sandbox killed
// from outside counts as idle until its health check finds it dead).
// Past deadline it reports a failure and keeps polling for a while, so the
// log says how long healing really took.
func waitFullStrength(t *testing.T, s *server, pool int, since, deadline time.Time) {
	t.Helper()
	full := func(st *testserver.Status) bool {
		return st.Idle == pool && st.Error == 0 && st.Starting == 0 && len(s.SandboxInits()) == pool*testserver.InitsPerSandbox
	}
	var st *testserver.Status
	var err error
	reported := false
	giveUp := deadline.Add(60 * time.Second)
	for {
		st, err = s.status()
		if err == nil && full(st) {
			if reported {
				t.Logf("pool back to full strength only %s after the last answer", time.Since(since).Round(time.Millisecond))
			}
			return
		}
		now := time.Now()
		if now.After(deadline) && !reported {
			reported = true
			t.Errorf("pool not back to %d idle sandboxes within %s: %+v, %d sandbox inits (err %v)",
				pool, deadline.Sub(since), st, len(s.SandboxInits()), err)
		}
		if now.After(giveUp) {
			t.Fatalf("pool still not at full strength %s after the last answer: %+v (err %v)", now.Sub(since).Round(time.Millisecond), st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNoLeaks wants exactly the inits of pool settled sandboxes under
// the server and no per-run cgroup left; a process or cgroup still being
// torn down gets 1 s.
func checkNoLeaks(t *testing.T, s *server, pool int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	want := pool * testserver.InitsPerSandbox
	for {
		inits, cgs := s.SandboxInits(), s.RunCgroups()
		if len(inits) == want && len(cgs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			if len(inits) != want {
				t.Errorf("%d sandbox init processes under server %d, want %d: pids %v", len(inits), s.PID(), want, inits)
			}
			if len(cgs) > 0 {
				t.Errorf("per-run cgroups left behind: %v", cgs)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// faultRule is a body of POST /v1/manager/faults.
type faultRule struct {
	Kind        string  `json:"kind,omitempty"`
	Probability float64 `json:"probability,omitempty"`
	Next        int     `json:"next,omitempty"`
	Clear       bool    `json:"clear,omitempty"`
}

// faultState is GET /v1/manager/faults.
type faultState struct {
	Rules map[string]json.RawMessage `json:"rules"`
	Fired map[string]int64           `json:"fired"`
}

func (s *server) setFault(r faultRule) error {
	a := postJSON(pollClient, s.URL()+"/v1/manager/faults", r)
	if a.err == nil && a.status != http.StatusOK {
		a.err = errors.New(a.String())
	}
	return a.err
}

func (s *server) faults() (faultState, error) {
	var f faultState
	err := getJSON(s.URL()+"/v1/manager/faults", &f)
	return f, err
}
