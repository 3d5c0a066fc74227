package async

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/pecan-judge/pecan/messages"
)

// fakeExec judges by calling fn, counting calls per request id.
type fakeExec struct {
	mu    sync.Mutex
	calls map[string]int
	fn    func(ctx context.Context, req *messages.ExecuteRequest, call int) (*messages.ExecuteResponse, error)
}

func (f *fakeExec) Execute(ctx context.Context, req *messages.ExecuteRequest) (*messages.ExecuteResponse, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[req.RequestId]++
	n := f.calls[req.RequestId]
	f.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("no deadline on the context")
	}
	if f.fn != nil {
		return f.fn(ctx, req, n)
	}
	return accepted(req), nil
}

func (f *fakeExec) count(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[id]
}

func accepted(req *messages.ExecuteRequest) *messages.ExecuteResponse {
	return &messages.ExecuteResponse{RequestId: req.RequestId, Status: "Accepted", Stdout: req.Stdin}
}

// render is a stand-in for the HTTP layer's renderer.
func render(resp *messages.ExecuteResponse) ([]byte, error) {
	if resp.Failure != messages.Failure_FAILURE_NONE {
		return json.Marshal(map[string]string{"error": resp.Error})
	}
	return json.Marshal(map[string]any{"status": resp.Status, "stdout": string(resp.Stdout), "request_id": resp.RequestId})
}

func testOptions(t *testing.T, path string) Options {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "async.db")
	}
	return Options{
		StorePath:   path,
		Workers:     2,
		QueueLength: 100,
		ResultTTL:   time.Hour,
		Webhook: WebhookOptions{
			Secret: "s3cret", Timeout: 2 * time.Second, RetryFor: 10 * time.Second,
			BackoffInitial: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, AllowPrivate: true,
		},
		BusyBackoff: 5 * time.Millisecond,
		Render:      render,
	}
}

func open(t *testing.T, o Options) *Manager {
	t.Helper()
	m, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func stop(t *testing.T, m *Manager) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func job(stdin string) Job {
	return Job{Request: &messages.ExecuteRequest{Language: "python", Code: []byte("print(input())"), Stdin: []byte(stdin)}, Budget: 5 * time.Second}
}

func submit(t *testing.T, m *Manager, j Job) string {
	t.Helper()
	id, err := m.Submit(context.Background(), j)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return id
}

// waitFor polls job id until cond holds or 10 s pass.
func waitFor(t *testing.T, m *Manager, id string, what string, cond func(*Status) bool) *Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := m.Result(context.Background(), id)
		if err != nil {
			t.Fatalf("result %s: %v", id, err)
		}
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: not %s within 10 s: state %s webhook %+v", id, what, st.State, st.Webhook)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func isDone(st *Status) bool { return st.State == StateDone }

func delivery(state DeliveryState) func(*Status) bool {
	return func(st *Status) bool { return st.Webhook != nil && st.Webhook.State == state }
}

// receiver is a webhook endpoint that fails the first `fail` attempts of
// each request id with 500 and records what it got.
type receiver struct {
	srv      *httptest.Server
	fail     int
	mu       sync.Mutex
	attempts map[string]int
	bodies   map[string][]byte
	sigs     map[string]string
	headers  map[string]http.Header
}

func newReceiver(t *testing.T, fail int) *receiver {
	r := &receiver{fail: fail, attempts: map[string]int{}, bodies: map[string][]byte{}, sigs: map[string]string{}, headers: map[string]http.Header{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		id := req.Header.Get(HeaderRequestID)
		r.mu.Lock()
		r.attempts[id]++
		n := r.attempts[id]
		r.headers[id] = req.Header.Clone()
		if n > r.fail {
			r.bodies[id], r.sigs[id] = b, req.Header.Get(HeaderSignature)
		}
		r.mu.Unlock()
		if n <= r.fail {
			w.WriteHeader(500)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func TestStoreRoundTripAndSubmitOrder(t *testing.T) {
	m := open(t, testOptions(t, ""))
	defer stop(t, m)
	j := job("7 8")
	j.WebhookURL = "https://example.com/hook"
	j.Request.RequestId = "fixed-id"
	j.Request.DeadlineUnixMs = 12345 // must not be kept: the deadline starts with the run
	id := submit(t, m, j)
	if id != "fixed-id" {
		t.Fatalf("id %q, want the request's", id)
	}
	r, err := m.store.get(id)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != StateQueued || r.WebhookURL != j.WebhookURL || r.Budget != j.Budget || r.Seq == 0 || r.CreatedAt.IsZero() {
		t.Errorf("stored record %+v", r)
	}
	var req messages.ExecuteRequest
	if err := proto.Unmarshal(r.Request, &req); err != nil {
		t.Fatal(err)
	}
	if string(req.Stdin) != "7 8" || req.Language != "python" || req.RequestId != id || req.DeadlineUnixMs != 0 {
		t.Errorf("stored request %+v", &req)
	}
	if _, err := m.Result(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}
	id2 := submit(t, m, job("1"))
	r2, _ := m.store.get(id2)
	if r2.Seq <= r.Seq {
		t.Errorf("sequence not increasing: %d then %d", r.Seq, r2.Seq)
	}
}

func TestJudgedAndDeliveredWithRetriesAndSignature(t *testing.T) {
	rcv := newReceiver(t, 2)
	exec := &fakeExec{}
	o := testOptions(t, "")
	m := open(t, o)
	m.Start(exec)
	defer stop(t, m)

	var ids []string
	for i := range 20 {
		j := job(fmt.Sprint(i))
		j.WebhookURL = rcv.srv.URL + "/hook"
		ids = append(ids, submit(t, m, j))
	}
	noHook := submit(t, m, job("polled"))
	for i, id := range ids {
		st := waitFor(t, m, id, "delivered", delivery(DeliveryDelivered))
		if st.Webhook.Attempts != 3 || st.Webhook.LastError != "" {
			t.Errorf("%s: webhook %+v, want 3 attempts and no error left", id, st.Webhook)
		}
		rcv.mu.Lock()
		body, sig, h := rcv.bodies[id], rcv.sigs[id], rcv.headers[id]
		rcv.mu.Unlock()
		if sig != Sign(o.Webhook.Secret, body) {
			t.Errorf("%s: signature %q does not match the body", id, sig)
		}
		if h.Get(HeaderAttempt) != "3" || h.Get("Content-Type") != "application/json" {
			t.Errorf("%s: headers %v", id, h)
		}
		var p struct {
			RequestID string          `json:"request_id"`
			Res       json.RawMessage `json:"res"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("%s: body %q: %v", id, body, err)
		}
		want, _ := render(&messages.ExecuteResponse{RequestId: id, Status: "Accepted", Stdout: []byte(fmt.Sprint(i))})
		if p.RequestID != id || string(p.Res) != string(want) || string(st.Result) != string(want) {
			t.Errorf("%s: payload %s, result %s, want res %s", id, body, st.Result, want)
		}
		if exec.count(id) != 1 {
			t.Errorf("%s judged %d times", id, exec.count(id))
		}
	}
	st := waitFor(t, m, noHook, "done", isDone)
	if st.Webhook != nil || !strings.Contains(string(st.Result), "polled") {
		t.Errorf("job without webhook: %+v", st)
	}
	eventually(t, "20 deliveries and 40 failed attempts counted", func() bool {
		s := m.Stats()
		return s.Delivered == 20 && s.FailedDeliveries == 40 && s.Queued == 0 && s.Running == 0
	})
}

func TestGivesUpAfterRetryWindow(t *testing.T) {
	rcv := newReceiver(t, 1000)
	o := testOptions(t, "")
	o.Webhook.RetryFor = 100 * time.Millisecond
	m := open(t, o)
	m.Start(&fakeExec{})
	defer stop(t, m)
	j := job("x")
	j.WebhookURL = rcv.srv.URL
	id := submit(t, m, j)
	st := waitFor(t, m, id, "given up", delivery(DeliveryGaveUp))
	if st.Webhook.Attempts < 2 || !strings.Contains(st.Webhook.LastError, "500") {
		t.Errorf("webhook %+v: want several attempts and the last error", st.Webhook)
	}
	// The counter follows the stored outcome.
	eventually(t, "GaveUp counted", func() bool { return m.Stats().GaveUp == 1 })
}

func TestBusyIsRequeuedAndInternalFinishesWithError(t *testing.T) {
	exec := &fakeExec{fn: func(_ context.Context, req *messages.ExecuteRequest, call int) (*messages.ExecuteResponse, error) {
		switch string(req.Stdin) {
		case "busy":
			if call <= 5 {
				return &messages.ExecuteResponse{RequestId: req.RequestId, Failure: messages.Failure_FAILURE_BUSY}, nil
			}
		case "broken":
			return &messages.ExecuteResponse{RequestId: req.RequestId, Failure: messages.Failure_FAILURE_INTERNAL, Error: "sandbox died"}, nil
		case "panic":
			panic("boom")
		}
		return accepted(req), nil
	}}
	rcv := newReceiver(t, 0)
	m := open(t, testOptions(t, ""))
	m.Start(exec)
	defer stop(t, m)
	busy := submit(t, m, job("busy"))
	j := job("broken")
	j.WebhookURL = rcv.srv.URL
	broken := submit(t, m, j)
	panicky := submit(t, m, job("panic"))

	st := waitFor(t, m, busy, "done", isDone)
	if st.Error != "" || !strings.Contains(string(st.Result), "Accepted") || exec.count(busy) != 6 {
		t.Errorf("busy job: %+v after %d calls; want Accepted after 6", st, exec.count(busy))
	}
	if r, _ := m.store.get(busy); r.Runs != 0 {
		t.Errorf("BUSY counted as failed runs: %d", r.Runs)
	}
	st = waitFor(t, m, broken, "delivered", delivery(DeliveryDelivered))
	if exec.count(broken) != 3 || !strings.Contains(st.Error, "sandbox died") || !strings.Contains(string(st.Result), `"error"`) {
		t.Errorf("broken job: %+v after %d calls; want an error result after 3", st, exec.count(broken))
	}
	st = waitFor(t, m, panicky, "done", isDone)
	if !strings.Contains(st.Error, "panicked") {
		t.Errorf("panicking executor: %+v", st)
	}
}

func TestRestartRequeuesRunningAndDeliversUndelivered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "async.db")
	rcv := newReceiver(t, 0)
	m1 := open(t, testOptions(t, path))
	j := job("was running")
	j.WebhookURL = rcv.srv.URL
	running := submit(t, m1, j)
	queued := submit(t, m1, job("was queued"))
	j = job("was done")
	j.WebhookURL = rcv.srv.URL
	done := submit(t, m1, j)
	// What a SIGKILL leaves: one job marked running, one finished and not
	// yet delivered. The store is closed without Stop.
	mustUpdate(t, m1, running, func(r *Record) { r.State = StateRunning })
	mustUpdate(t, m1, done, func(r *Record) {
		r.State, r.FinishedAt, r.Result = StateDone, time.Now(), []byte(`{"status":"Accepted"}`)
		r.Webhook = &Delivery{State: DeliveryPending, Attempts: 1, NextAttempt: time.Now()}
	})
	if err := m1.store.close(); err != nil {
		t.Fatal(err)
	}

	m2 := open(t, testOptions(t, path))
	if st, _ := m2.Result(context.Background(), running); st.State != StateQueued {
		t.Fatalf("running job after restart: %s, want queued", st.State)
	}
	if s := m2.Stats(); s.Queued != 2 {
		t.Errorf("stats after restart %+v, want 2 queued", s)
	}
	exec := &fakeExec{}
	m2.Start(exec)
	defer stop(t, m2)
	waitFor(t, m2, running, "delivered", delivery(DeliveryDelivered))
	waitFor(t, m2, queued, "done", isDone)
	st := waitFor(t, m2, done, "delivered", delivery(DeliveryDelivered))
	if st.Webhook.Attempts != 2 || exec.count(done) != 0 {
		t.Errorf("undelivered job: %+v judged %d times; want delivered on attempt 2, not judged again", st.Webhook, exec.count(done))
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.attempts[running] != 1 || rcv.attempts[done] != 1 {
		t.Errorf("receiver attempts %v", rcv.attempts)
	}
}

func mustUpdate(t *testing.T, m *Manager, id string, fn func(*Record)) {
	t.Helper()
	if _, err := m.store.update(id, func(r *Record) error { fn(r); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestStopLeavesRunningJobQueued(t *testing.T) {
	path := filepath.Join(t.TempDir(), "async.db")
	started := make(chan struct{})
	exec := &fakeExec{fn: func(ctx context.Context, req *messages.ExecuteRequest, _ int) (*messages.ExecuteResponse, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	o := testOptions(t, path)
	o.Workers = 1
	m := open(t, o)
	m.Start(exec)
	id := submit(t, m, job("slow"))
	<-started
	if st, _ := m.Result(context.Background(), id); st.State != StateRunning {
		t.Fatalf("state %s, want running", st.State)
	}
	stop(t, m)
	m2 := open(t, o)
	defer m2.store.close()
	if st, _ := m2.Result(context.Background(), id); st.State != StateQueued {
		t.Errorf("after stop: %s, want queued", st.State)
	}
}

func TestStoreIsLocked(t *testing.T) {
	o := testOptions(t, "")
	m := open(t, o)
	defer stop(t, m)
	_, err := Open(o)
	if err == nil || !strings.Contains(err.Error(), "in use by another pecan") || !strings.Contains(err.Error(), o.StorePath) {
		t.Fatalf("second open: %v", err)
	}
}

func TestIdempotencyKey(t *testing.T) {
	exec := &fakeExec{}
	m := open(t, testOptions(t, ""))
	m.Start(exec)
	defer stop(t, m)
	j := job("1 2")
	j.IdempotencyKey = "contest-42/sub-7"
	a := submit(t, m, j)
	j.Request.RequestId = "" // a retry of the same submission gets a new id from the handler
	b := submit(t, m, j)
	if a != b {
		t.Fatalf("same key, ids %s and %s", a, b)
	}
	j.IdempotencyKey = "contest-42/sub-8"
	if c := submit(t, m, j); c == a {
		t.Fatal("another key got the same id")
	}
	waitFor(t, m, a, "done", isDone)
	if n := exec.count(a); n != 1 {
		t.Errorf("judged %d times", n)
	}
}

func TestQueueFull(t *testing.T) {
	o := testOptions(t, "")
	o.QueueLength = 2
	m := open(t, o) // not started: nothing leaves the queue
	defer stop(t, m)
	j := job("a")
	j.IdempotencyKey = "k"
	first := submit(t, m, j)
	submit(t, m, job("b"))
	if _, err := m.Submit(context.Background(), job("c")); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third job: %v, want ErrQueueFull", err)
	}
	// A repeated submission is not a new job: it gets its id even now.
	if id, err := m.Submit(context.Background(), j); err != nil || id != first {
		t.Errorf("repeat while full: %q %v", id, err)
	}
	if s := m.Stats(); s.Queued != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestSubmitRefusesBadWebhooks(t *testing.T) {
	o := testOptions(t, "")
	o.Webhook.AllowPrivate = false
	m := open(t, o)
	defer stop(t, m)
	for _, u := range []string{"ftp://example.com/x", "http://127.0.0.1:8080/x", "http://[::1]/x", "http://10.0.0.5/x",
		"http://169.254.169.254/latest", "http://localhost/x", "/relative", "http:///nohost"} {
		j := job("x")
		j.WebhookURL = u
		if _, err := m.Submit(context.Background(), j); !errors.Is(err, ErrBadWebhook) {
			t.Errorf("%s: %v, want ErrBadWebhook", u, err)
		}
	}
	if s := m.Stats(); s.Queued != 0 {
		t.Errorf("refused submissions created jobs: %+v", s)
	}
	j := job("x")
	j.WebhookURL = "https://judge.example.com/hook"
	submit(t, m, j)
}

func TestDialGuard(t *testing.T) {
	deny := dialGuard(false, noLocalAddrs)
	for _, addr := range []string{"127.0.0.1:80", "10.1.2.3:443", "172.16.0.1:80", "192.168.1.1:80", "169.254.169.254:80",
		"[::1]:80", "[fe80::1]:80", "[fc00::1]:80", "[::ffff:127.0.0.1]:80", "0.0.0.0:80", "100.64.0.1:80"} {
		if err := deny("tcp", addr, nil); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: %v, want refused", addr, err)
		}
		if err := dialGuard(true, noLocalAddrs)("tcp", addr, nil); err != nil {
			t.Errorf("%s with private targets allowed: %v", addr, err)
		}
	}
	for _, addr := range []string{"93.184.216.34:443", "[2606:2800:220:1::1]:80", "8.8.8.8:53"} {
		if err := deny("tcp", addr, nil); err != nil {
			t.Errorf("%s: %v, want allowed", addr, err)
		}
	}
	for _, ip := range []string{"1.1.1.1", "100.63.255.255", "100.128.0.1", "11.0.0.1"} {
		if why := refusedReason(netip.MustParseAddr(ip)); why != "" {
			t.Errorf("public address %s refused: %s", ip, why)
		}
	}
	for _, ip := range []string{"100.127.255.255", "0.1.2.3", "224.0.0.1", "ff02::1", "198.18.0.1", "255.255.255.255",
		"240.0.0.1", "192.0.0.8", "64:ff9b::a00:1", "2002:a00:1::1", "fec0::1"} {
		if refusedReason(netip.MustParseAddr(ip)) == "" {
			t.Errorf("%s allowed", ip)
		}
	}
}

// The guard works at dial time: a URL that passes the string check (a
// host name) but resolves to loopback is still refused.
func TestWebhookToLoopbackNameRefusedAtDial(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	h := newHookClient(WebhookOptions{Timeout: 2 * time.Second}, 1)
	err := h.post(context.Background(), "http://localhost:"+port+"/", "id", 1, []byte("{}"))
	if err == nil || !strings.Contains(err.Error(), "refused") || hits.Load() != 0 {
		t.Fatalf("loopback by name: %v (%d hits), want refused at dial", err, hits.Load())
	}
	allowed := newHookClient(WebhookOptions{Timeout: 2 * time.Second, AllowPrivate: true}, 1)
	if err := allowed.post(context.Background(), srv.URL, "id", 1, []byte("{}")); err != nil || hits.Load() != 1 {
		t.Fatalf("with private targets allowed: %v (%d hits)", err, hits.Load())
	}
}

func TestSign(t *testing.T) {
	// RFC 4231, test case 2.
	got := Sign("Jefe", []byte("what do ya want for nothing?"))
	if want := "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestBackoffBounds(t *testing.T) {
	top := func(n int64) int64 { return n - 1 }
	zero := func(int64) int64 { return 0 }
	initial, maxWait := 100*time.Millisecond, time.Second
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 50: time.Second} {
		if got := backoff(attempt, initial, maxWait, top); got != want {
			t.Errorf("attempt %d: ceiling %s, want %s", attempt, got, want)
		}
		if got := backoff(attempt, initial, maxWait, zero); got != 0 {
			t.Errorf("attempt %d: floor %s, want 0 (full jitter)", attempt, got)
		}
	}
}

func TestJanitorRemovesExpiredOnly(t *testing.T) {
	o := testOptions(t, "")
	o.ResultTTL = time.Minute
	m := open(t, o)
	defer stop(t, m)
	now := time.Now()
	old, fresh, pending, queued := job("old"), job("fresh"), job("pending"), job("queued")
	old.IdempotencyKey = "old-key"
	ids := map[string]string{}
	for name, j := range map[string]Job{"old": old, "fresh": fresh, "pending": pending, "queued": queued} {
		ids[name] = submit(t, m, j)
	}
	mustUpdate(t, m, ids["old"], func(r *Record) {
		r.State, r.FinishedAt = StateDone, now.Add(-3*time.Minute)
		r.Webhook = &Delivery{State: DeliveryDelivered, EndedAt: now.Add(-2 * time.Minute)}
	})
	mustUpdate(t, m, ids["fresh"], func(r *Record) {
		r.State, r.FinishedAt = StateDone, now.Add(-3*time.Minute)
		r.Webhook = &Delivery{State: DeliveryGaveUp, EndedAt: now.Add(-30 * time.Second)}
	})
	mustUpdate(t, m, ids["pending"], func(r *Record) {
		r.State, r.FinishedAt = StateDone, now.Add(-time.Hour)
		r.Webhook = &Delivery{State: DeliveryPending}
	})
	if n := m.sweep(now); n != 1 {
		t.Fatalf("removed %d, want 1", n)
	}
	if _, err := m.Result(context.Background(), ids["old"]); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired job still there: %v", err)
	}
	for _, name := range []string{"fresh", "pending", "queued"} {
		if _, err := m.Result(context.Background(), ids[name]); err != nil {
			t.Errorf("%s job removed: %v", name, err)
		}
	}
	// Its idempotency key went with it: the same key makes a new job.
	if id := submit(t, m, old); id == ids["old"] {
		t.Error("idempotency key of a removed job still maps to it")
	}
}

// The janitor reads the index of finished jobs, not the records: a record
// it could not even decode does not stop it, and a job is found expired
// at the time its index entry says, however the record was reached.
func TestJanitorReadsOnlyTheIndex(t *testing.T) {
	o := testOptions(t, "")
	o.ResultTTL = time.Minute
	m := open(t, o)
	defer stop(t, m)
	now := time.Now()
	expired, retained := submit(t, m, job("expired")), submit(t, m, job("retained"))
	mustUpdate(t, m, expired, func(r *Record) { r.State, r.FinishedAt = StateDone, now.Add(-2*time.Minute) })
	mustUpdate(t, m, retained, func(r *Record) { r.State, r.FinishedAt = StateDone, now })
	// Both records unreadable: the sweep that decoded every record failed
	// on them and removed nothing.
	err := m.store.db.Update(func(tx *bolt.Tx) error {
		for _, id := range []string{expired, retained} {
			if err := tx.Bucket(bucketJobs).Put([]byte(id), []byte("{not json")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := m.sweep(now); n != 1 {
		t.Fatalf("removed %d, want the expired job only", n)
	}
	if _, err := m.Result(context.Background(), expired); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired job: %v, want it removed", err)
	}
	if _, err := m.Result(context.Background(), retained); errors.Is(err, ErrNotFound) {
		t.Error("retained job removed")
	}
	// The retained one goes once its time comes.
	if n := m.sweep(now.Add(2 * time.Minute)); n != 1 {
		t.Errorf("later sweep removed %d, want 1", n)
	}
}

// A job's final time can move (a webhook delivered after a failed
// attempt); the index follows it, and a store without the index (written
// before it existed) gets it at the next start.
func TestFinalIndexFollowsTheRecordAndIsRebuilt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "async.db")
	o := testOptions(t, path)
	o.ResultTTL = time.Minute
	m := open(t, o)
	now := time.Now()
	id := submit(t, m, job("moved"))
	mustUpdate(t, m, id, func(r *Record) {
		r.State, r.FinishedAt = StateDone, now.Add(-time.Hour)
		r.Webhook = &Delivery{State: DeliveryGaveUp, EndedAt: now.Add(-time.Hour)}
	})
	// Delivered after all, just now: retained again.
	mustUpdate(t, m, id, func(r *Record) { r.Webhook.State, r.Webhook.EndedAt = DeliveryDelivered, now })
	if n := m.sweep(now); n != 0 {
		t.Fatalf("removed %d by its old final time", n)
	}
	// Pending again: never removed while pending.
	mustUpdate(t, m, id, func(r *Record) { r.Webhook.State = DeliveryPending })
	if n := m.sweep(now.Add(time.Hour)); n != 0 {
		t.Fatalf("removed %d with its webhook pending", n)
	}
	mustUpdate(t, m, id, func(r *Record) { r.Webhook.State, r.Webhook.EndedAt = DeliveryDelivered, now })
	err := m.store.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketFinal) })
	if err != nil {
		t.Fatal(err)
	}
	stop(t, m)

	m = open(t, o)
	defer stop(t, m)
	if n := m.sweep(now.Add(30 * time.Second)); n != 0 {
		t.Fatalf("removed %d before its time", n)
	}
	if n := m.sweep(now.Add(2 * time.Minute)); n != 1 {
		t.Fatalf("removed %d after a restart that rebuilt the index, want 1", n)
	}
}

// A job's deadline starts when a worker starts it: time spent queued is
// not taken from its budget.
func TestDeadlineStartsWithTheRun(t *testing.T) {
	left := make(chan time.Duration, 1)
	exec := &fakeExec{fn: func(ctx context.Context, req *messages.ExecuteRequest, _ int) (*messages.ExecuteResponse, error) {
		dl, _ := ctx.Deadline()
		left <- time.Until(dl)
		return accepted(req), nil
	}}
	m := open(t, testOptions(t, ""))
	j := job("x")
	j.Budget = time.Second
	submit(t, m, j)
	// The job waits in the queue for 400 ms before any worker exists.
	time.Sleep(400 * time.Millisecond)
	m.Start(exec)
	defer stop(t, m)
	select {
	case d := <-left:
		if d < 900*time.Millisecond || d > time.Second {
			t.Errorf("%s of the 1 s budget left at the start of the run; the queue wait was counted", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("job not run within 10 s")
	}
}

func TestBusyHoldsTheJobInTheWorker(t *testing.T) {
	var mu sync.Mutex
	var order []string
	exec := &fakeExec{fn: func(_ context.Context, req *messages.ExecuteRequest, call int) (*messages.ExecuteResponse, error) {
		mu.Lock()
		order = append(order, string(req.Stdin))
		mu.Unlock()
		if string(req.Stdin) == "a" && call <= 3 {
			return &messages.ExecuteResponse{RequestId: req.RequestId, Failure: messages.Failure_FAILURE_BUSY}, nil
		}
		return accepted(req), nil
	}}
	o := testOptions(t, "")
	o.Workers = 1
	m := open(t, o)
	a, b := submit(t, m, job("a")), submit(t, m, job("b"))
	m.Start(exec)
	defer stop(t, m)
	waitFor(t, m, a, "done", isDone)
	waitFor(t, m, b, "done", isDone)
	// A BUSY pool is waited out with the job in hand: it neither goes to
	// the back of the queue nor lets the worker spin through others.
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(order, ""); got != "aaaab" {
		t.Errorf("calls in order %q, want aaaab", got)
	}
}

func TestDeadlineInThePoolQueueIsNotAFailedRun(t *testing.T) {
	exec := &fakeExec{fn: func(_ context.Context, req *messages.ExecuteRequest, call int) (*messages.ExecuteResponse, error) {
		if call <= 4 { // more than MaxRuns
			return nil, context.DeadlineExceeded
		}
		return accepted(req), nil
	}}
	m := open(t, testOptions(t, ""))
	id := submit(t, m, job("x"))
	m.Start(exec)
	defer stop(t, m)
	st := waitFor(t, m, id, "done", isDone)
	if st.Error != "" || !strings.Contains(string(st.Result), "Accepted") {
		t.Errorf("job %+v; want Accepted after waiting out the pool", st)
	}
	if r, _ := m.store.get(id); r.Runs != 0 {
		t.Errorf("deadlines counted as failed runs: %d", r.Runs)
	}
}

func TestJobRunningAtEveryCrashIsFinished(t *testing.T) {
	path := filepath.Join(t.TempDir(), "async.db")
	o := testOptions(t, path)
	o.MaxRuns = 3
	m1 := open(t, o)
	id := submit(t, m1, job("crashes the server"))
	// Two crashes counted already, and it was running at a third.
	mustUpdate(t, m1, id, func(r *Record) { r.State, r.Runs = StateRunning, o.MaxRuns-1 })
	if err := m1.store.close(); err != nil {
		t.Fatal(err)
	}
	m2 := open(t, o)
	exec := &fakeExec{}
	m2.Start(exec)
	defer stop(t, m2)
	st := waitFor(t, m2, id, "done", isDone)
	if exec.count(id) != 0 || !strings.Contains(st.Error, "server stopped") {
		t.Errorf("job %+v judged %d times; want finished with an error, not run again", st, exec.count(id))
	}
}

func TestSlowReceiverHoldsOnlyItsHostsSlots(t *testing.T) {
	var inFlight, most atomic.Int32
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		select { // never answers in time
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	fast := newReceiver(t, 0)

	o := testOptions(t, "")
	o.Deliverers, o.PerHost = 8, 2
	o.Webhook.Timeout = time.Minute // no retry overlaps an attempt still held
	m := open(t, o)
	m.Start(&fakeExec{})
	defer stop(t, m)
	// "localhost" and "127.0.0.1" are different receiver hosts.
	slowURL := strings.Replace(slow.URL, "127.0.0.1", "localhost", 1)
	for i := range 10 {
		j := job(fmt.Sprintf("slow %d", i))
		j.WebhookURL = slowURL
		submit(t, m, j)
	}
	j := job("fast")
	j.WebhookURL = fast.srv.URL
	waitFor(t, m, submit(t, m, j), "delivered", delivery(DeliveryDelivered))
	eventually(t, "the slow receiver holding its share", func() bool { return most.Load() >= 2 })
	if n := most.Load(); n > 2 {
		t.Errorf("%d deliveries waited on one host at once, want at most PerHost=2", n)
	}
}
