package async

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/messages"
)

// A job of a kind is rendered from its Meta by the kind's Render, and its
// webhook is the kind's body sent with the kind's method, at most
// MaxAttempts times.
func TestKindRendersAndDeliversItsOwnWay(t *testing.T) {
	var mu sync.Mutex
	var methods []string
	var bodies []string
	fail := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		methods = append(methods, r.Method)
		bodies = append(bodies, string(b))
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()

	o := testOptions(t, "")
	o.Kinds = map[string]Kind{"j0": {
		Render: func(resp *messages.ExecuteResponse, meta []byte) ([]byte, error) {
			return json.Marshal(map[string]string{"meta": string(meta), "status": resp.Status})
		},
		Webhook: func(id string, result []byte) ([]byte, error) {
			return append([]byte("hook:"), result...), nil
		},
		Method:      http.MethodPut,
		MaxAttempts: 2,
	}}
	m := open(t, o)
	m.Start(&fakeExec{})
	defer stop(t, m)

	j := job("x")
	j.Kind, j.Meta, j.WebhookURL = "j0", []byte("m1"), srv.URL
	id := submit(t, m, j)
	st := waitFor(t, m, id, "given up", func(s *Status) bool {
		return s.Webhook != nil && s.Webhook.State == DeliveryGaveUp
	})
	if want := `{"meta":"m1","status":"Accepted"}`; string(st.Result) != want {
		t.Errorf("result %s, want %s", st.Result, want)
	}
	if st.Kind != "j0" || string(st.Meta) != "m1" {
		t.Errorf("status kind %q meta %q, want j0 and m1", st.Kind, st.Meta)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(methods) != 2 {
		t.Fatalf("%d attempts, want MaxAttempts = 2", len(methods))
	}
	for i := range methods {
		if methods[i] != http.MethodPut || bodies[i] != "hook:"+string(st.Result) {
			t.Errorf("attempt %d: %s %q, want PUT of the kind's body", i+1, methods[i], bodies[i])
		}
	}
}

// A job's own retention decides when it expires, not result_ttl.
func TestJobRetention(t *testing.T) {
	o := testOptions(t, "")
	o.ResultTTL = time.Hour
	m := open(t, o)
	defer stop(t, m)
	short, long := job("short"), job("long")
	short.Retention = time.Minute
	ids := []string{submit(t, m, short), submit(t, m, long)}
	now := time.Now()
	for _, id := range ids {
		mustUpdate(t, m, id, func(r *Record) { r.State, r.FinishedAt = StateDone, now })
	}
	if n := m.sweep(now.Add(2 * time.Minute)); n != 1 {
		t.Fatalf("removed %d after 2 min, want the job retained for 1 min", n)
	}
	if _, err := m.Result(context.Background(), ids[1]); err != nil {
		t.Errorf("job under result_ttl removed: %v", err)
	}
	if n := m.sweep(now.Add(2 * time.Hour)); n != 1 {
		t.Errorf("removed %d after 2 h, want the other", n)
	}
}
