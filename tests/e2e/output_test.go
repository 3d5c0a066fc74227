package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/tests/testserver"
)

// floodProgram writes n MiB of byte b to stdout and, when streams is 2,
// to stderr too, a MiB at a time to each in turn.
func floodProgram(b byte, streams, n int) string {
	return fmt.Sprintf(`#include <string.h>
#include <unistd.h>
static char buf[1 << 20];
static void put(int fd) {
    for (size_t done = 0; done < sizeof buf;) {
        ssize_t w = write(fd, buf + done, sizeof buf - done);
        if (w <= 0) _exit(3);
        done += (size_t)w;
    }
}
int main(void) {
    memset(buf, %d, sizeof buf);
    for (int i = 0; i < %d; i++)
        for (int fd = 1; fd <= %d; fd++) put(fd);
    return 0;
}
`, b, n, streams)
}

// floodMiB is how much the flooding programs write to each stream: the
// size finding 3 of the security review measured.
const floodMiB = 60

// maxPeakGrowth is how far above its idle RSS the server's peak may go
// while judging a flood. When the whole output was escaped and sent twice
// (text and base64) the peak was 4.3 GB for a judge-single, 9.1 GB for
// the same job async, and 2.6 GB for the newlines under lines.
const maxPeakGrowth = 512 << 20

// TestOutputFlood judges programs that write 60 MiB to each stream, each
// on a server of its own, and checks what the server does with that much
// output: it answers with at most response_output_kib of each stream,
// flagged as cut, in one encoding; the verdict is decided on everything;
// an async result stores no more than the cut; and the server's peak
// memory while judging stays within maxPeakGrowth of its idle size.
func TestOutputFlood(t *testing.T) {
	start(t)
	flood := testserver.Job{Language: "c", Code: floodProgram(0xff, 2, floodMiB), TimeLimit: 10, WallTimeLimit: 60}

	t.Run("sync", func(t *testing.T) {
		f := startFloodServer(t)
		began := time.Now()
		status, body := postTo(t, f.srv.URL()+"/v1/judge/judge-single", flood)
		t.Logf("answered %d bytes in %s", len(body), time.Since(began).Round(time.Millisecond))
		if status != http.StatusOK {
			t.Fatalf("HTTP %d: %s", status, clip(string(body)))
		}
		if len(body) > f.maxAnswer {
			t.Errorf("answer is %d bytes, more than %d", len(body), f.maxAnswer)
		}
		var r testserver.Result
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("decode: %v", err)
		}
		// The program ran to its end; its output is not the expected "".
		expect(t, &r, testserver.WrongAnswer)
		checkCut(t, &r, 0xff, f.keep)
		f.checkPeak(t)
	})

	t.Run("async", func(t *testing.T) {
		f := startFloodServer(t)
		before := fileSize(t, f.store)
		status, body := postTo(t, f.srv.URL()+"/v1/judge/judge-single-async", flood)
		if status != http.StatusOK {
			t.Fatalf("HTTP %d: %s", status, clip(string(body)))
		}
		var accepted struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(body, &accepted); err != nil || accepted.RequestID == "" {
			t.Fatalf("answer %s: %v", clip(string(body)), err)
		}
		res := waitAsync(t, f.srv.URL(), accepted.RequestID, 3*time.Minute)
		after := fileSize(t, f.store)
		t.Logf("stored result %d bytes; store file %d -> %d bytes", len(res), before, after)
		if len(res) > f.maxAnswer {
			t.Errorf("stored result is %d bytes, more than %d", len(res), f.maxAnswer)
		}
		// bbolt grows its file by doubling (up to 16 MiB at a time), and a
		// record rewritten as the job moves on takes fresh pages before
		// the old ones are reused: a few times the record, not 3.7 GB.
		if grown := after - before; grown > 8*int64(f.maxAnswer) {
			t.Errorf("async store grew by %d bytes for one result, more than %d", grown, 8*f.maxAnswer)
		}
		var r testserver.Result
		if err := json.Unmarshal(res, &r); err != nil {
			t.Fatalf("decode result: %v", err)
		}
		expect(t, &r, testserver.WrongAnswer)
		checkCut(t, &r, 0xff, f.keep)
		f.checkPeak(t)
	})

	t.Run("lines", func(t *testing.T) {
		f := startFloodServer(t)
		// 60 MiB of newlines is the empty output to the lines checker
		// (trailing blank lines are ignored); splitting it into lines cost
		// 1.5 GB.
		for _, c := range []struct {
			want string
			code int
		}{{"", testserver.Accepted}, {"x\n", testserver.WrongAnswer}} {
			j := testserver.Job{Language: "c", Code: floodProgram('\n', 1, floodMiB), DesiredStdout: c.want,
				Checker: "lines", TimeLimit: 10, WallTimeLimit: 60}
			began := time.Now()
			status, body := postTo(t, f.srv.URL()+"/v1/judge/judge-single", j)
			t.Logf("desired %q: answered in %s", c.want, time.Since(began).Round(time.Millisecond))
			if status != http.StatusOK {
				t.Fatalf("HTTP %d: %s", status, clip(string(body)))
			}
			var r testserver.Result
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatalf("decode: %v", err)
			}
			expect(t, &r, c.code)
			if !r.StdoutTruncated || r.StderrTruncated || len(r.Stdout) != f.keep || r.Stdout != string(bytes.Repeat([]byte("\n"), f.keep)) || r.StdoutBase64 != "" {
				t.Errorf("stdout %d bytes (truncated %v, base64 %d bytes), stderr truncated %v: want the first %d newlines as text, flagged",
					len(r.Stdout), r.StdoutTruncated, len(r.StdoutBase64), r.StderrTruncated, f.keep)
			}
		}
		f.checkPeak(t)
	})
}

// floodServer is a server of one sandbox for one flood test, and what the
// test needs to know of it.
type floodServer struct {
	srv   *testserver.Server
	idle  testserver.Memory // once healthy
	store string            // its async store file
	// keep is response_output_kib in bytes; maxAnswer is the largest
	// answer that may carry both streams cut to it, base64-encoded (4/3),
	// with the compiler's output (64 KiB) and the other fields.
	keep, maxAnswer int
}

// startFloodServer starts a server with the repository's pecan.toml, whose
// output_kib must let the flood programs finish, on a copy of the binary
// (so that the shared server's leftover check tells their processes
// apart), with an async store whose file the test can see. It is stopped
// and checked for leftovers when t ends.
func startFloodServer(t *testing.T) *floodServer {
	t.Helper()
	cfgPath := filepath.Join(suite.Repo, "pecan.toml")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.OutputKiB < (floodMiB+1)<<10 {
		t.Fatalf("pecan.toml's output_kib %d KiB would kill a program writing %d MiB: the test needs it to pass", cfg.Limits.OutputKiB, floodMiB)
	}
	dir := t.TempDir()
	bin, err := testserver.CopyBinary(suite.Bin, filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	f := &floodServer{store: filepath.Join(dir, "async.db"), keep: int(cfg.Limits.ResponseOutputKiB) << 10}
	f.maxAnswer = 2*(f.keep*4/3+4) + 64<<10 + 4<<10
	o := suite.Options(bin, cfgPath, 1, "flood-"+filepath.Base(t.Name()))
	o.AsyncStore = f.store
	rootsBefore := testserver.TmpRoots()
	if f.srv, err = testserver.StartHealthy(o, startupTimeout); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.srv.Stop(promptShutdown); err != nil {
			t.Errorf("flood server: %v", err)
		}
		for _, l := range f.srv.Leftovers(rootsBefore) {
			t.Errorf("flood server left behind: %s", l)
		}
		if t.Failed() {
			t.Log(f.srv.LogTail(60))
		}
	})
	if f.idle, err = f.srv.Memory(); err != nil {
		t.Fatal(err)
	}
	return f
}

// checkPeak wants the server's peak RSS so far within maxPeakGrowth of its
// idle RSS.
func (f *floodServer) checkPeak(t *testing.T) {
	t.Helper()
	m, err := f.srv.Memory()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server RSS idle %d MiB, peak %d MiB", f.idle.RSS>>20, m.Peak>>20)
	if m.Peak > f.idle.RSS+maxPeakGrowth {
		t.Errorf("server peak RSS %d MiB, more than %d MiB above its idle %d MiB", m.Peak>>20, maxPeakGrowth>>20, f.idle.RSS>>20)
	}
}

// checkCut wants each stream to be the first keep bytes of what the flood
// program wrote, as base64 only (the bytes are not UTF-8), flagged as cut.
func checkCut(t *testing.T, r *testserver.Result, b byte, keep int) {
	t.Helper()
	want := bytes.Repeat([]byte{b}, keep)
	for _, s := range []struct {
		name      string
		text, b64 string
		truncated bool
	}{{"stdout", r.Stdout, r.StdoutBase64, r.StdoutTruncated}, {"stderr", r.Stderr, r.StderrBase64, r.StderrTruncated}} {
		got, err := base64.StdEncoding.DecodeString(s.b64)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s_base64: %d bytes decoded (%v), want the first %d bytes of output", s.name, len(got), err, keep)
		}
		if s.text != "" {
			t.Errorf("%s is %d bytes of text besides the base64: one encoding only", s.name, len(s.text))
		}
		if !s.truncated {
			t.Errorf("%s_truncated is false for %d MiB of output", s.name, floodMiB)
		}
	}
}

// postTo posts j as JSON to url and returns the status and body.
func postTo(t *testing.T, url string, j testserver.Job) (int, []byte) {
	t.Helper()
	body, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	status, b, err := postURL(url, "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	return status, b
}

// waitAsync polls the result of async job id until it is done and returns
// its "res".
func waitAsync(t *testing.T, base, id string, within time.Duration) json.RawMessage {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := client.Get(base + "/v1/judge/result/" + id)
		if err != nil {
			t.Fatalf("GET result: %v", err)
		}
		var st struct {
			State string          `json:"state"`
			Res   json.RawMessage `json:"res"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET result: HTTP %d, %v", resp.StatusCode, err)
		}
		if st.State == "done" {
			return st.Res
		}
		if time.Now().After(deadline) {
			t.Fatalf("async job %s still %s after %s", id, st.State, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
