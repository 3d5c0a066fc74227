package chaos

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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
			checkAnswers(t, answers, int(maxFailShare*jobs))
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

// The load of TestKillSandboxesFromOutside: 60 jobs, 6 at a time, on a
// pool of 3, with a sandbox init killed every 0.4 s.
const (
	killPool        = 3
	killJobs        = 60
	killConcurrency = 6
	killEvery       = 400 * time.Millisecond
)

// napAPlusB is aPlusB that also sleeps half a second, longer than the
// time between two kills, so the load lasts some seconds (about 30
// kills), most kills land on a sandbox running a job, and a retried job
// may well be killed again.
var napAPlusB = testserver.Job{
	Code:          "import time\ntime.sleep(0.5)\na, b = map(int, input().split())\nprint(a + b)\n",
	Language:      "python",
	Stdin:         "1 2\n",
	DesiredStdout: "3\n",
	TimeLimit:     1,
	MemoryLimit:   65536,
}

// TestKillSandboxesFromOutside SIGKILLs a random sandbox init of a server
// of its own every 0.4 s while it judges, as an OOM killer or an operator
// might. A job is not to blame for that: every request must get its
// verdict, and the pool must be whole again within 2 s of the last kill.
func TestKillSandboxesFromOutside(t *testing.T) {
	needServer(t)
	// A binary of its own: Leftovers tells servers apart by executable.
	bin, err := testserver.CopyBinary(env.Bin, filepath.Join(env.Tmp, "kill"))
	if err != nil {
		t.Fatal(err)
	}
	rootsBefore := testserver.TmpRoots()
	s, err := startServer(bin, filepath.Join(env.Repo, "pecan.toml"), killPool, "kill")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			s.printLogTail()
		}
	}()
	defer s.Kill() // a failed test must not leave it running

	before, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	type killReport struct {
		kills   int
		stopped time.Time
	}
	killed := make(chan killReport, 1)
	go func() {
		n := 0
		tick := time.NewTicker(killEvery)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				killed <- killReport{n, time.Now()}
				return
			case <-tick.C:
			}
			if inits := s.SandboxInits(); len(inits) > 0 {
				if syscall.Kill(inits[rand.IntN(len(inits))], syscall.SIGKILL) == nil {
					n++
				}
			}
		}
	}()
	start := time.Now()
	answers, _ := load(s.URL(), killJobs, killConcurrency, napAPlusB)
	close(stop)
	kr := <-killed
	s.checkAlive(t)

	checkAnswers(t, answers, 0)
	waitFullStrength(t, s, killPool, kr.stopped, kr.stopped.Add(recoverWithin))
	t.Logf("pool whole again %s after the killing stopped", time.Since(kr.stopped).Round(time.Millisecond))
	after, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d jobs in %s, %d sandbox inits killed; restarts %d -> %d",
		killJobs, kr.stopped.Sub(start).Round(time.Millisecond), kr.kills, before.Restarts, after.Restarts)
	if kr.kills < 5 {
		t.Errorf("only %d sandboxes killed: the test proved little", kr.kills)
	}
	if after.Restarts <= before.Restarts {
		t.Errorf("restarts did not grow (%d -> %d) although %d sandbox inits were killed", before.Restarts, after.Restarts, kr.kills)
	}
	if log, err := os.ReadFile(s.LogPath()); err == nil {
		most := 0
		for _, m := range attemptField.FindAllSubmatch(log, -1) {
			most = max(most, atoi(string(m[1])))
		}
		t.Logf("%d retries after a sandbox was killed under a job (at most %d for one job), %d restart storms",
			bytes.Count(log, []byte("retrying it elsewhere")), most, bytes.Count(log, []byte("restart storm:")))
	}
	checkNoLeaks(t, s, killPool)
	if err := s.Stop(promptShutdown); err != nil {
		t.Error(err)
	}
	for _, l := range s.Leftovers(rootsBefore) {
		t.Errorf("left behind: %s", l)
	}
}

// attemptField is the router's count of sandboxes lost under a job, in a
// log line.
var attemptField = regexp.MustCompile(`attempt=(\d+)`)

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// TestSIGTERMDuringLoad stops a server of its own while slow jobs run and
// wait: what it accepted finishes, new work is refused, it exits 0 and
// leaves nothing behind.
func TestSIGTERMDuringLoad(t *testing.T) {
	needServer(t)
	// A binary of its own, so that its processes are told apart from the
	// shared server's.
	ownBin, err := testserver.CopyBinary(env.Bin, filepath.Join(env.Tmp, "sigterm"))
	if err != nil {
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
	var st *testserver.Status
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
