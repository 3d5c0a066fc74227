package async

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// TestSIGKILLRestart kills the server with SIGKILL while jobs are queued
// and running, starts it again on the same store, and wants every accepted
// job delivered (at least once, with its request id).
func TestSIGKILLRestart(t *testing.T) {
	start(t)
	bin := ownBinary(t, "pecan-kill")
	cfg, err := writeConfig("kill", fastWebhooks())
	if err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(env.Tmp, "kill-async.db")
	opts := env.Options(bin, cfg, 2, "kill-1")
	opts.AsyncStore = store
	rootsBefore := testserver.TmpRoots()

	first, err := testserver.StartHealthy(opts, startupTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Kill()
	rcv := newReceiver(t, false)

	// Jobs of about 0.3 s each, two at a time: the 40 take seconds, so
	// the kill finds some running and most queued.
	const n = 40
	slow := testserver.Job{Language: "python", Code: "import time\ntime.sleep(0.3)\nprint(input())\n", TimeLimit: 1, WallTimeLimit: 5, MemoryLimit: 65536}
	ids := make([]string, n)
	for i := range n {
		j := slow
		j.Stdin, j.DesiredStdout = fmt.Sprintf("%d\n", i), fmt.Sprintf("%d\n", i)
		ids[i] = mustSubmit(t, first.URL(), asyncJob{Job: j, WebhookURL: rcv.url(0)}, "")
	}

	// Kill once a job is running or done, while most are still queued.
	deadline := time.Now().Add(time.Minute)
	var states map[string]int
	for {
		states = map[string]int{}
		for _, id := range ids {
			status, r, err := getResult(first.URL(), id)
			if err != nil || status != http.StatusOK {
				t.Fatalf("GET result %s: HTTP %d %v", id, status, err)
			}
			states[r.State]++
		}
		if states["running"]+states["done"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no job started within a minute: %v", states)
		}
		time.Sleep(20 * time.Millisecond)
	}
	first.Kill() // SIGKILL
	t.Logf("SIGKILL with jobs %v", states)
	if states["queued"] == 0 {
		t.Fatalf("no job was queued at the kill (%v): the test proves less than it should", states)
	}

	opts.LogPath = filepath.Join(env.Tmp, "kill-2.log")
	second, err := testserver.StartHealthy(opts, startupTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Kill()
	rcv.waitDelivered(t, ids, 3*time.Minute)
	for i, id := range ids {
		for _, d := range rcv.deliveries(id) {
			var r testserver.Result
			if err := json.Unmarshal(d.Res, &r); err != nil {
				t.Fatalf("job %d: res %s: %v", i, d.Res, err)
			}
			if r.RequestID != id || r.Status != "Accepted" || r.Stdout != fmt.Sprintf("%d\n", i) {
				t.Errorf("job %d (%s): delivered %s", i, id, &r)
			}
		}
	}

	if err := second.Stop(promptShutdown); err != nil {
		t.Error(err)
	}
	// Nothing of either run is left: the second start removed the killed
	// server's cgroups, and its sandboxes died with it.
	for _, s := range []*testserver.Server{first, second} {
		for _, l := range s.Leftovers(rootsBefore) {
			t.Errorf("left behind by pid %d: %s", s.PID(), l)
		}
	}
}
