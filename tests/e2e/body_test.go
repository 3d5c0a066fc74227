package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// oversized is a judge request of about 20 MB, over the shipped 16 MiB
// body limit.
const oversized = 20_000_000

// TestOversizedBody posts 20 MB bodies with real clients: each reads a
// JSON 413 rather than a connection reset, and the server judges the next
// request, on a fresh connection, as before.
func TestOversizedBody(t *testing.T) {
	start(t)
	want413 := func(who string, status int, body string) {
		t.Helper()
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(body), &e); status != 413 || err != nil || !strings.Contains(e.Error, "too large") {
			t.Errorf("%s: HTTP %d %q, want 413 with a JSON error saying too large", who, status, clip(body))
		}
	}

	// Python's urllib sends the whole body, then reads the answer.
	status, body, err := urllibPost(baseURL+"/v1/judge/judge-single", oversized, "")
	if err != nil {
		t.Fatal(err)
	}
	want413("python urllib", status, body)

	// Go's client, with a Content-Length and chunked.
	payload := []byte(`{"language":"python","code":"print(1)","stdin":"` + strings.Repeat("1", oversized) + `"}`)
	for _, chunked := range []bool{false, true} {
		var r io.Reader = bytes.NewReader(payload)
		if chunked {
			r = io.MultiReader(r) // hides the length: sent chunked
		}
		req, err := http.NewRequest(http.MethodPost, baseURL+"/v1/judge/judge-single", r)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		c := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{}} // a fresh connection each
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("go client, chunked=%v: %v", chunked, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("go client, chunked=%v: reading the answer: %v", chunked, err)
		}
		want413(fmt.Sprintf("go client, chunked=%v", chunked), resp.StatusCode, string(b))
		if !resp.Close {
			t.Errorf("go client, chunked=%v: 413 without Connection: close", chunked)
		}
	}

	// The next request, on a fresh connection, is judged.
	fresh := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{}}
	inFlight <- struct{}{}
	r, err := testserver.Judge(fresh, baseURL, testserver.Job{Language: "python", Code: sumProgram("python", "0"), Stdin: "1 2\n", DesiredStdout: "3\n"})
	<-inFlight
	if err != nil {
		t.Fatal(err)
	}
	expect(t, r, testserver.Accepted)
}
