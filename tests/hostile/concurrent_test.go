package hostile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// aPlusB reads two numbers and prints their sum; stdin is "1 2".
var aPlusB = map[string]string{
	"c": `#include <stdio.h>
int main(void) { long a, b; if (scanf("%ld %ld", &a, &b) != 2) return 1; printf("%ld\n", a + b); return 0; }
`,
	"python": `a, b = map(int, input().split())
print(a + b)
`,
	"java": `import java.util.Scanner;
public class Main {
    public static void main(String[] args) {
        Scanner s = new Scanner(System.in);
        long a = s.nextLong(), b = s.nextLong();
        System.out.println(a + b);
    }
}
`,
}

// TestCorpusConcurrent sends the whole corpus at once to a server with two
// sandboxes, mixed with 30 honest A+B jobs: every honest job must be
// Accepted with "3\n", every hostile job must get an answer, and the
// server must be clean afterwards.
func TestCorpusConcurrent(t *testing.T) {
	requireServer(t)
	const pool = 2
	// The repository's configuration with a queue wait long enough for the
	// whole corpus (some compiles take their full 20 s): an honest job must
	// not be refused for waiting behind hostile ones.
	cfg, err := os.ReadFile(filepath.Join(env.Repo, "pecan.toml"))
	if err != nil {
		t.Fatal(err)
	}
	const qt = "\nqueue_timeout = 60.0\n"
	if bytes.Count(cfg, []byte(qt)) != 1 {
		t.Fatalf("pecan.toml: expected exactly one line %q", strings.TrimSpace(qt))
	}
	cfgPath := filepath.Join(env.Tmp, "pecan-concurrent.toml")
	if err := os.WriteFile(cfgPath, bytes.Replace(cfg, []byte(qt), []byte("\nqueue_timeout = 900.0\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	// A copy of the binary of its own: Leftovers finds a server's processes
	// by their executable, and the shared server is still running.
	ownBin, err := testserver.CopyBinary(env.Bin, filepath.Join(env.Tmp, "concurrent"))
	if err != nil {
		t.Fatal(err)
	}
	rootsBefore := testserver.TmpRoots()
	srv, err := startServer(ownBin, cfgPath, pool, "concurrent")
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Kill()
		}
		if t.Failed() {
			t.Log(srv.LogTail(80))
		}
	}()

	type outcome struct {
		name string
		r    *testserver.Result
		err  error
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out []outcome
	)
	send := func(name string, j testserver.Job) {
		defer wg.Done()
		r, err := judge(srv.URL(), j)
		mu.Lock()
		out = append(out, outcome{name, r, err})
		mu.Unlock()
	}
	langs := []string{"c", "python", "java"}
	start := time.Now()
	for i, c := range corpus {
		wg.Add(1)
		go send("hostile "+c.name, c.job(srv))
		// Honest jobs are interleaved with the hostile ones.
		if i < 30 {
			l := langs[i%len(langs)]
			wg.Add(1)
			go send(fmt.Sprintf("a+b #%d (%s)", i, l), testserver.Job{Code: aPlusB[l], Language: l, Stdin: "1 2\n", DesiredStdout: "3\n", TimeLimit: 2})
		}
	}
	for i := len(corpus); i < 30; i++ {
		l := langs[i%len(langs)]
		wg.Add(1)
		go send(fmt.Sprintf("a+b #%d (%s)", i, l), testserver.Job{Code: aPlusB[l], Language: l, Stdin: "1 2\n", DesiredStdout: "3\n", TimeLimit: 2})
	}
	wg.Wait()
	t.Logf("%d jobs answered in %s", len(out), time.Since(start).Round(time.Millisecond))

	honest := 0
	for _, o := range out {
		if o.err != nil {
			t.Errorf("%s: no answer: %v", o.name, o.err)
			continue
		}
		if strings.HasPrefix(o.name, "a+b") {
			honest++
			if o.r.Code != testserver.Accepted || o.r.Stdout != "3\n" {
				t.Errorf("%s: want Accepted with \"3\\n\", got %s", o.name, o.r)
			}
			continue
		}
		t.Logf("%s: %s", o.name, o.r.Status)
		if strings.Contains(o.r.Stdout, "ESCAPE") {
			if reason, ok := exceptions.For(strings.TrimPrefix(o.name, "hostile ")); ok {
				t.Logf("%s: named exception (%s): %s", o.name, reason, o.r)
				continue
			}
			t.Errorf("%s: containment failed: %s", o.name, o.r)
		}
	}
	if honest != 30 {
		t.Errorf("%d A+B answers, want 30", honest)
	}

	if err := healthy(srv); err != nil {
		t.Fatal(err)
	}
	if err := waitIdle(srv, pool, settleTimeout); err != nil {
		t.Error(err)
	}
	if left := waitClean(srv, pool, settleTimeout); len(left) > 0 {
		t.Errorf("left on the host: %s", strings.Join(left, "; "))
	}
	stopped = true
	if err := srv.Stop(promptShutdown); err != nil {
		t.Errorf("server: %v", err)
	}
	for _, l := range srv.Leftovers(rootsBefore) {
		t.Errorf("left behind after SIGTERM: %s", l)
	}
}
