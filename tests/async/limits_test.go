package async

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// TestQueueFullAndBadRequests runs a server with room for 5 async jobs
// and the default SSRF guard: bad requests get 400 and take no room, five
// slow jobs fill the queue, the sixth gets 503 with Retry-After.
func TestQueueFullAndBadRequests(t *testing.T) {
	start(t)
	bin := ownBinary(t, "pecan-full")
	cfg, err := writeConfig("full", map[string]string{"queue_length": "5", "pool_share": "0.5"})
	if err != nil {
		t.Fatal(err)
	}
	rootsBefore := testserver.TmpRoots()
	opts := env.Options(bin, cfg, 1, "full")
	s, err := testserver.StartHealthy(opts, startupTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Kill()

	good := testserver.Job{Language: "python", Code: "print(1)\n", DesiredStdout: "1\n"}
	bad := []struct {
		name    string
		job     asyncJob
		mention string
	}{
		{"unknown language", asyncJob{Job: testserver.Job{Language: "cobol", Code: "x"}}, "language"},
		{"missing code", asyncJob{Job: testserver.Job{Language: "python"}}, "code"},
		{"negative memory", asyncJob{Job: testserver.Job{Language: "python", Code: "x", MemoryLimit: -5}}, "memory_limit"},
		{"ftp webhook", asyncJob{Job: good, WebhookURL: "ftp://judge.example/hook"}, "webhook_url"},
		{"loopback webhook", asyncJob{Job: good, WebhookURL: "http://127.0.0.1:9/hook"}, "webhook_url"},
		{"metadata webhook", asyncJob{Job: good, WebhookURL: "http://169.254.169.254/latest"}, "webhook_url"},
	}
	for _, c := range bad {
		status, id, body, _, err := submit(s.URL(), c.job, "")
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error string }
		_ = json.Unmarshal(body, &e)
		if status != http.StatusBadRequest || id != "" || !strings.Contains(e.Error, c.mention) {
			t.Errorf("%s: HTTP %d %s, want 400 naming %s", c.name, status, body, c.mention)
		}
	}
	if status, _, err := getResult(s.URL(), "00000000-0000-0000-0000-000000000000"); err != nil || status != http.StatusNotFound {
		t.Errorf("GET result of an unknown id: HTTP %d %v, want 404", status, err)
	}
	if q, r := asyncGauge(t, s.URL(), "queued"), asyncGauge(t, s.URL(), "running"); q != "0" || r != "0" {
		t.Fatalf("bad requests created jobs: %s queued, %s running", q, r)
	}

	// Five jobs of 5 s wall time each: the queue (which counts running
	// jobs too) is full for far longer than it takes to send a sixth.
	slow := testserver.Job{Language: "python", Code: "import time\ntime.sleep(5)\n", TimeLimit: 1, WallTimeLimit: 8, MemoryLimit: 65536}
	var ids []string
	for range 5 {
		ids = append(ids, mustSubmit(t, s.URL(), asyncJob{Job: slow}, ""))
	}
	status, id, body, header, err := submit(s.URL(), asyncJob{Job: slow}, "")
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusServiceUnavailable || id != "" || header.Get("Retry-After") == "" || !strings.Contains(string(body), "full") {
		t.Errorf("sixth job: HTTP %d %s (Retry-After %q), want 503 with Retry-After", status, body, header.Get("Retry-After"))
	}
	// Every accepted job is there to be polled.
	for _, id := range ids {
		if status, r, err := getResult(s.URL(), id); err != nil || status != http.StatusOK || r.State == "" {
			t.Errorf("GET result %s: HTTP %d %v %+v", id, status, err, r)
		}
	}

	if err := s.Stop(promptShutdown); err != nil {
		t.Error(err)
	}
	for _, l := range s.Leftovers(rootsBefore) {
		t.Errorf("left behind: %s", l)
	}
}

// asyncGauge reads pecan_async_jobs{state} from /metrics.
func asyncGauge(t *testing.T, base, state string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	prefix := `pecan_async_jobs{state="` + state + `"} `
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v
		}
	}
	t.Fatalf("/metrics has no %s", strings.TrimSpace(prefix))
	return ""
}
