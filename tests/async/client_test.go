package async

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// asyncJob is a judge-single-async request.
type asyncJob struct {
	testserver.Job
	WebhookURL string `json:"webhook_url,omitempty"`
}

// submit posts j to the server at base; it returns the HTTP status, the
// request id of an accepted job and the raw body.
func submit(base string, j asyncJob, idempotencyKey string) (int, string, []byte, http.Header, error) {
	body, err := json.Marshal(j)
	if err != nil {
		return 0, "", nil, nil, err
	}
	req, err := http.NewRequest(http.MethodPost, base+"/v1/judge/judge-single-async", bytes.NewReader(body))
	if err != nil {
		return 0, "", nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", nil, nil, fmt.Errorf("POST judge-single-async: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", nil, nil, fmt.Errorf("POST judge-single-async: read: %w", err)
	}
	var a struct {
		RequestID string `json:"request_id"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &a); err != nil || a.RequestID == "" {
			return resp.StatusCode, "", b, resp.Header, fmt.Errorf("accepted without a request_id: %s", b)
		}
	}
	return resp.StatusCode, a.RequestID, b, resp.Header, nil
}

// mustSubmit submits and wants 200.
func mustSubmit(t *testing.T, base string, j asyncJob, key string) string {
	t.Helper()
	status, id, body, _, err := submit(base, j, key)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Fatalf("submit: HTTP %d %s", status, body)
	}
	return id
}

// result is a GET /v1/judge/result answer.
type result struct {
	RequestID string          `json:"request_id"`
	State     string          `json:"state"`
	Res       json.RawMessage `json:"res"`
	Webhook   *struct {
		State    string `json:"state"`
		Attempts int    `json:"attempts"`
	} `json:"webhook"`
}

// getResult polls nothing: one GET; status and decoded body.
func getResult(base, id string) (int, *result, error) {
	resp, err := client.Get(base + "/v1/judge/result/" + id)
	if err != nil {
		return 0, nil, fmt.Errorf("GET result %s: %w", id, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("GET result %s: read: %w", id, err)
	}
	var r result
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &r); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("GET result %s: %q: %w", id, b, err)
		}
	}
	return resp.StatusCode, &r, nil
}

// delivery is one successful webhook request.
type delivery struct {
	Attempt int // X-Pecan-Delivery-Attempt
	Res     json.RawMessage
}

// receiver is a webhook endpoint on 127.0.0.1. A webhook URL with
// ?fail=N is answered 500 on its first N attempts. Every request's
// signature is verified as a client would, with the shared secret.
type receiver struct {
	srv *httptest.Server
	// strictAttempts checks X-Pecan-Delivery-Attempt against the requests
	// seen; a server killed during an attempt may repeat a number, so the
	// restart test turns it off.
	strictAttempts bool

	mu        sync.Mutex
	attempts  map[string]int
	delivered map[string][]delivery
	problems  []string
}

func newReceiver(t *testing.T, strict bool) *receiver {
	r := &receiver{strictAttempts: strict, attempts: map[string]int{}, delivered: map[string][]delivery{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.handle))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url(fail int) string {
	if fail > 0 {
		return r.srv.URL + "/hook?fail=" + strconv.Itoa(fail)
	}
	return r.srv.URL + "/hook"
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	problem := func(format string, args ...any) {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
		w.WriteHeader(http.StatusBadRequest)
	}
	if err != nil {
		problem("read body: %v", err)
		return
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(req.Header.Get("X-Pecan-Signature")), []byte(want)) {
		problem("bad signature %q on %s", req.Header.Get("X-Pecan-Signature"), testserver.Clip(string(body), 200))
		return
	}
	apiCheck.RecordWebhook(body)
	var p struct {
		RequestID string          `json:"request_id"`
		Res       json.RawMessage `json:"res"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.RequestID == "" || len(p.Res) == 0 {
		problem("body %q: %v", testserver.Clip(string(body), 200), err)
		return
	}
	if h := req.Header.Get("X-Pecan-Request-Id"); h != p.RequestID {
		problem("X-Pecan-Request-Id %q, body's request_id %q", h, p.RequestID)
		return
	}
	r.attempts[p.RequestID]++
	n := r.attempts[p.RequestID]
	attempt, err := strconv.Atoi(req.Header.Get("X-Pecan-Delivery-Attempt"))
	if err != nil || attempt < 1 || (r.strictAttempts && attempt != n) {
		problem("%s: X-Pecan-Delivery-Attempt %q on request %d", p.RequestID, req.Header.Get("X-Pecan-Delivery-Attempt"), n)
		return
	}
	if fail, _ := strconv.Atoi(req.URL.Query().Get("fail")); attempt <= fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	r.delivered[p.RequestID] = append(r.delivered[p.RequestID], delivery{Attempt: attempt, Res: p.Res})
}

// waitDelivered polls until every id has been delivered at least once,
// or fails t after timeout with what is missing.
func (r *receiver) waitDelivered(t *testing.T, ids []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r.mu.Lock()
		var missing []string
		for _, id := range ids {
			if len(r.delivered[id]) == 0 {
				missing = append(missing, id)
			}
		}
		problems := append([]string(nil), r.problems...)
		r.mu.Unlock()
		if len(problems) > 0 {
			t.Fatalf("receiver saw %d bad requests, first: %s", len(problems), problems[0])
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs not delivered within %s, e.g. %s", len(missing), len(ids), timeout, missing[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *receiver) deliveries(id string) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.delivered[id]...)
}
