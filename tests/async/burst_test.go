package async

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

const (
	pyAPlusB  = "a, b = map(int, input().split())\nprint(a + b)\n"
	pyFails   = "import sys\nsys.stderr.write('boom\\n')\nsys.exit(3)\n"
	cAPlusB   = "#include <stdio.h>\nint main(void) { long a, b; if (scanf(\"%ld %ld\", &a, &b) != 2) return 1; printf(\"%ld\\n\", a + b); return 0; }\n"
	cNoCompil = "int main(void) { return undeclared; }\n"
)

// burstJob is job i of the burst: A+B in Python and C with inputs of its
// own, and verdicts Accepted, WrongAnswer, RuntimeError and CompileError.
func burstJob(i int) testserver.Job {
	a, b := i, 7*i+1
	stdin, sum := fmt.Sprintf("%d %d\n", a, b), fmt.Sprintf("%d\n", a+b)
	j := testserver.Job{Language: "python", Code: pyAPlusB, Stdin: stdin, DesiredStdout: sum, TimeLimit: 2, MemoryLimit: 65536}
	switch i % 6 {
	case 2:
		j.DesiredStdout = fmt.Sprintf("%d\n", a+b+1) // WrongAnswer
	case 3:
		j.Code = pyFails // RuntimeError, exit 3, stderr "boom"
	case 4:
		j.Language, j.Code = "c", cAPlusB
	case 5:
		j.Language, j.Code = "c", cAPlusB
		if i%12 == 5 {
			j.Code = cNoCompil // CompileError
		} else {
			j.DesiredStdout = "0\n" // WrongAnswer
		}
	}
	return j
}

// TestBurstDeliveredLikeSync submits 300 jobs at once. A third of the
// webhooks fail twice before the receiver takes them. Every job must be
// delivered exactly once, signed, with the verdict a synchronous
// judge-single of the same request gives; GET result must agree.
func TestBurstDeliveredLikeSync(t *testing.T) {
	start(t)
	const n = 300
	rcv := newReceiver(t, true)
	base := shared.URL()

	began := time.Now()
	ids := make([]string, n)
	fails := make([]int, n)
	for i := range n {
		if i%3 == 0 {
			fails[i] = 2
		}
		ids[i] = mustSubmit(t, base, asyncJob{Job: burstJob(i), WebhookURL: rcv.url(fails[i])}, "")
	}
	accepted := time.Since(began)

	// The same jobs synchronously, meanwhile; they share the pool with the
	// async workers, two at a time.
	sync0 := make([]*testserver.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 2 {
		wg.Go(func() {
			for i := range next {
				sync0[i], errs[i] = testserver.Judge(client, base, burstJob(i))
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("sync judge of job %d: %v", i, err)
		}
	}

	rcv.waitDelivered(t, ids, 4*time.Minute)
	t.Logf("%d jobs accepted in %s, all delivered after %s", n, accepted.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))

	verdicts := map[string]int{}
	for i, id := range ids {
		ds := rcv.deliveries(id)
		if len(ds) != 1 {
			t.Errorf("job %d (%s): delivered %d times, want once", i, id, len(ds))
			continue
		}
		if want := fails[i] + 1; ds[0].Attempt != want {
			t.Errorf("job %d: delivered on attempt %d, want %d", i, ds[0].Attempt, want)
		}
		var got testserver.Result
		if err := json.Unmarshal(ds[0].Res, &got); err != nil {
			t.Fatalf("job %d: res %s: %v", i, ds[0].Res, err)
		}
		if got.RequestID != id {
			t.Errorf("job %d: res request_id %q, want %q", i, got.RequestID, id)
		}
		if diff := compare(&got, sync0[i]); diff != "" {
			t.Errorf("job %d (%s): async differs from sync in %s\nasync %s\nsync  %s", i, burstJob(i).Language, diff, &got, sync0[i])
		}
		verdicts[got.Status]++

		// The polling fallback says the same.
		status, r, err := getResult(base, id)
		if err != nil || status != http.StatusOK {
			t.Fatalf("job %d: GET result: HTTP %d %v", i, status, err)
		}
		if r.State != "done" || r.Webhook == nil || r.Webhook.State != "delivered" || r.Webhook.Attempts != fails[i]+1 || !sameJSON(r.Res, ds[0].Res) {
			t.Errorf("job %d: GET result %+v webhook %+v, res %s; delivered %s", i, r, r.Webhook, r.Res, ds[0].Res)
		}
	}
	t.Logf("verdicts: %v", verdicts)
	for _, v := range []string{"Accepted", "WrongAnswer", "RuntimeError", "CompileError"} {
		if verdicts[v] == 0 {
			t.Errorf("no %s among the verdicts %v: the burst does not cover what it should", v, verdicts)
		}
	}
}

// compare names the deterministic fields in which a and s differ: time,
// memory, sandbox, node and request id depend on the run.
func compare(a, s *testserver.Result) string {
	switch {
	case a.Code != s.Code || a.Status != s.Status:
		return "verdict"
	case a.Stdout != s.Stdout:
		return "stdout"
	case a.Stderr != s.Stderr:
		return "stderr"
	case a.ExitCode != s.ExitCode || a.Signal != s.Signal:
		return "exit"
	case (a.CompileOutput == "") != (s.CompileOutput == ""):
		return "compile output"
	}
	return ""
}

func sameJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// TestIdempotencyKey: a repeated submission with the same key is the same
// job, judged and delivered once.
func TestIdempotencyKey(t *testing.T) {
	start(t)
	rcv := newReceiver(t, true)
	j := asyncJob{Job: burstJob(1), WebhookURL: rcv.url(0)}
	key := fmt.Sprintf("contest-1/submission-%d", time.Now().UnixNano())
	first := mustSubmit(t, shared.URL(), j, key)
	again := mustSubmit(t, shared.URL(), j, key)
	if again != first {
		t.Fatalf("same Idempotency-Key: ids %s and %s", first, again)
	}
	other := mustSubmit(t, shared.URL(), j, key+"-other")
	if other == first {
		t.Fatal("another key got the same id")
	}
	rcv.waitDelivered(t, []string{first, other}, 2*time.Minute)
	// Delivered once even after the next job is through, so no second
	// delivery of the first is still on its way.
	if ds := rcv.deliveries(first); len(ds) != 1 {
		t.Errorf("delivered %d times, want once", len(ds))
	}
}
