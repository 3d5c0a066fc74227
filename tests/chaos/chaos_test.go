package chaos

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// TestFaults injects each fault kind into the shared server under load.
// The subtests run one after another: they share the injector.
func TestFaults(t *testing.T) {
	needShared(t)
	for _, tc := range []struct {
		kind  string // must fire, or the subtest proves nothing
		rules []faultRule
	}{
		// Sandboxes are only built on restarts, so resets must fail too.
		{"create_fail", []faultRule{{Kind: "create_fail", Probability: 0.5}, {Kind: "reset_fail", Probability: 0.05}}},
		{"reset_fail", []faultRule{{Kind: "reset_fail", Probability: 0.05}}},
		{"run_panic", []faultRule{{Kind: "run_panic", Probability: 0.05}}},
		{"run_hang", []faultRule{{Kind: "run_hang", Next: 2}}},
		{"kill_init", []faultRule{{Kind: "kill_init", Probability: 0.05}}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			before, err := shared.faults()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = shared.setFault(faultRule{Clear: true}) })
			for _, r := range tc.rules {
				if err := shared.setFault(r); err != nil {
					t.Fatalf("set %+v: %v", r, err)
				}
			}
			answers, lastAnswer := load(shared.URL(), jobs, concurrency, aPlusB)
			shared.checkAlive(t)
			if err := shared.setFault(faultRule{Clear: true}); err != nil {
				t.Fatalf("clear faults: %v", err)
			}
			checkAnswers(t, answers)
			waitFullStrength(t, shared, poolSize, lastAnswer, lastAnswer.Add(recoverWithin))
			after, err := shared.faults()
			if err != nil {
				t.Fatal(err)
			}
			fired := after.Fired[tc.kind] - before.Fired[tc.kind]
			t.Logf("fired during the load: %v (cumulative %v)", fired, after.Fired)
			if fired == 0 {
				t.Errorf("%s never fired during %d jobs: the test proved nothing", tc.kind, jobs)
			}
			checkNoLeaks(t, shared, poolSize)
		})
	}
}

// TestKillSandboxesFromOutside SIGKILLs random sandbox inits of the shared
// server every 500 ms while it judges, as an OOM killer or an operator
// might.
func TestKillSandboxesFromOutside(t *testing.T) {
	needShared(t)
	before, err := shared.status()
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	killed := make(chan int, 1)
	go func() {
		n := 0
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				killed <- n
				return
			case <-tick.C:
			}
			if inits := shared.SandboxInits(); len(inits) > 0 {
				if syscall.Kill(inits[rand.IntN(len(inits))], syscall.SIGKILL) == nil {
					n++
				}
			}
		}
	}()
	answers, lastAnswer := load(shared.URL(), jobs, concurrency, aPlusB)
	close(stop)
	kills := <-killed
	shared.checkAlive(t)

	checkAnswers(t, answers)
	waitFullStrength(t, shared, poolSize, lastAnswer, lastAnswer.Add(recoverWithin))
	after, err := shared.status()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d sandbox inits killed; restarts %d -> %d", kills, before.Restarts, after.Restarts)
	if kills == 0 {
		t.Error("no sandbox was killed: the test proved nothing")
	}
	if after.Restarts <= before.Restarts {
		t.Errorf("restarts did not grow (%d -> %d) although %d sandbox inits were killed", before.Restarts, after.Restarts, kills)
	}
	checkNoLeaks(t, shared, poolSize)
}

// TestSIGTERMDuringLoad stops a server of its own while slow jobs run and
// wait: what it accepted finishes, new work is refused, it exits 0 and
// leaves nothing behind.
func TestSIGTERMDuringLoad(t *testing.T) {
	needServer(t)
	// A binary of its own, so that its processes are told apart from the
	// shared server's.
	b, err := os.ReadFile(env.Bin)
	if err != nil {
		t.Fatal(err)
	}
	ownBin := filepath.Join(env.Tmp, "pecan-sigterm")
	if err := os.WriteFile(ownBin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	rootsBefore := testserver.TmpRoots()
	s, err := startServer(ownBin, filepath.Join(env.Repo, "pecan.toml"), 2, "sigterm")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			s.printLogTail()
		}
	}()
	defer s.Kill() // a failed test must not leave it running

	slow := testserver.Job{
		Code:          "import time\nwhile time.process_time() < 0.8: pass\nprint(3)\n",
		Language:      "python",
		DesiredStdout: "3\n",
		TimeLimit:     2,
		MemoryLimit:   65536,
	}
	const n = 8
	answers := make([]answer, n)
	var wg sync.WaitGroup
	jobClient := &http.Client{Timeout: time.Minute}
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = postJSON(jobClient, s.URL()+"/v1/judge/judge-single", slow)
		}()
	}

	// SIGTERM once a job is running.
	var st status
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err = s.status()
		if err == nil && st.Running >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no job running within 30 s: %+v (err %v)", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	termAt := time.Now()
	if err := s.Terminate(); err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGTERM with %+v", st)

	// New work is refused, quickly: once the listener is gone (health
	// probes on fresh connections), a judge request must not get in.
	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline = time.Now().Add(5 * time.Second)
	for {
		resp, err := fresh.Get(s.URL() + "/v1/health")
		if err != nil {
			break
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /v1/health still answered 200 %s after SIGTERM", time.Since(termAt).Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond)
	}
	late := postJSON(fresh, s.URL()+"/v1/judge/judge-single", aPlusB)
	switch {
	case late.err != nil && !errors.Is(late.err, syscall.ECONNREFUSED):
		t.Errorf("request after SIGTERM: want connection refused or an error status, got %s", late)
	case late.err == nil && (late.status < 400 || !isJSONError(late.body)):
		t.Errorf("request after SIGTERM was not refused: %s", late)
	case late.took > 2*time.Second:
		t.Errorf("refusing a request after SIGTERM took %s", late.took.Round(time.Millisecond))
	default:
		t.Logf("request after SIGTERM: %s", late)
	}

	wg.Wait()
	accepted := 0
	for i, a := range answers {
		var v verdict
		switch {
		case a.err == nil && a.status == http.StatusOK:
			if decodeVerdict(a.body, &v) && v.Status == "Accepted" && v.Stdout == "3\n" {
				accepted++
			} else {
				t.Errorf("job %d: accepted by the server but not judged Accepted: %s", i, a)
			}
		case a.err == nil && (a.status == http.StatusInternalServerError || a.status == http.StatusServiceUnavailable) && isJSONError(a.body):
			t.Logf("job %d refused: %s", i, a)
		case a.err != nil && errors.Is(a.err, syscall.ECONNREFUSED):
			t.Logf("job %d refused: %s", i, a)
		default:
			t.Errorf("job %d: %s", i, a)
		}
	}
	t.Logf("%d of %d slow jobs finished Accepted", accepted, n)
	if accepted < st.Running {
		t.Errorf("%d jobs were running at SIGTERM but only %d finished Accepted", st.Running, accepted)
	}

	if err := s.WaitExit(termAt, 60*time.Second); err != nil {
		t.Error(err)
	} else {
		t.Logf("exited 0 %s after SIGTERM", time.Since(termAt).Round(time.Millisecond))
	}
	for _, l := range s.Leftovers(rootsBefore) {
		t.Errorf("left behind: %s", l)
	}
}

func decodeVerdict(body []byte, v *verdict) bool {
	return json.Unmarshal(body, v) == nil && v.Code != nil
}
