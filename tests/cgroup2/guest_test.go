//go:build cgroup2guest

package cgroup2

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// The guest's cases are not parallel: two sandboxes on two emulated cores
// are busy enough with one case at a time, and the limits some cases check
// (CPU time near the limit) must not be disturbed by the others.

const aPlusBIn, aPlusBOut = "2 3\n", "5\n"

var aPlusB = map[string]string{
	"c":      "#include <stdio.h>\nint main(void){long a,b;if(scanf(\"%ld %ld\",&a,&b)!=2)return 1;printf(\"%ld\\n\",a+b);return 0;}\n",
	"cpp":    "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<\"\\n\";}\n",
	"python": "a, b = map(int, input().split())\nprint(a + b)\n",
	"java":   "import java.util.*;\npublic class Main { public static void main(String[] x) { Scanner s = new Scanner(System.in); System.out.println(s.nextLong() + s.nextLong()); } }\n",
}

// TestUnifiedHierarchy checks that the guest is what the suite is for: a
// cgroup v2 host, on which the server made its cgroup in the unified
// hierarchy with the controllers runs need enabled for its children (at
// the first run).
func TestUnifiedHierarchy(t *testing.T) {
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		t.Fatalf("no unified hierarchy at /sys/fs/cgroup: %v", err)
	}
	expect(t, judge(t, testserver.Job{Language: "python", Code: aPlusB["python"], Stdin: aPlusBIn, DesiredStdout: aPlusBOut}), testserver.Accepted)
	own := filepath.Join("/sys/fs/cgroup", fmt.Sprintf("pecan-%d", shared.PID()))
	sub, err := os.ReadFile(filepath.Join(own, "cgroup.subtree_control"))
	if err != nil {
		t.Fatalf("the server's cgroup: %v", err)
	}
	for _, c := range []string{"cpu", "memory", "pids"} {
		if !slices.Contains(strings.Fields(string(b)), c) {
			t.Errorf("controller %s not available: %q", c, b)
		}
		if !slices.Contains(strings.Fields(string(sub)), c) {
			t.Errorf("controller %s not enabled for runs in %s: %q", c, own, sub)
		}
	}
	if left := shared.RunCgroups(); len(left) > 0 {
		t.Errorf("run cgroups left after the job: %v", left)
	}
}

// TestAccepted judges A+B in each of the guest's languages.
func TestAccepted(t *testing.T) {
	for _, lang := range guestLanguages {
		t.Run(lang, func(t *testing.T) {
			// The JVM alone takes seconds of emulated CPU time to start,
			// and more when the host is loaded: the guest counts a vCPU's
			// time off the host's cores as the program's. The limits are
			// the largest a request may ask for.
			r := judge(t, testserver.Job{Language: lang, Code: aPlusB[lang], Stdin: aPlusBIn, DesiredStdout: aPlusBOut, TimeLimit: 30, WallTimeLimit: 90})
			expect(t, r, testserver.Accepted)
		})
	}
}

// TestVerdicts: a wrong sum and a program that does not compile.
func TestVerdicts(t *testing.T) {
	t.Run("WrongAnswer", func(t *testing.T) {
		r := judge(t, testserver.Job{Language: "python", Code: "print(6)\n", Stdin: aPlusBIn, DesiredStdout: aPlusBOut})
		expect(t, r, testserver.WrongAnswer)
	})
	t.Run("CompileError", func(t *testing.T) {
		r := judge(t, testserver.Job{Language: "c", Code: "int main( {", DesiredStdout: aPlusBOut})
		expect(t, r, testserver.CompileError)
		if !strings.Contains(r.CompileOutput, "error") {
			t.Errorf("compile output does not carry the compiler's error: %s", r)
		}
	})
}

// TestCPULimit: the CPU time a run gets is read from cpu.stat (usage_usec)
// and the run is stopped there.
func TestCPULimit(t *testing.T) {
	for lang, code := range map[string]string{
		"c":      "int main(void) { volatile unsigned long x = 0; for (;;) x++; }\n",
		"python": "x = 0\nwhile True:\n    x += 1\n",
	} {
		t.Run(lang, func(t *testing.T) {
			r := judge(t, testserver.Job{Language: lang, Code: code, TimeLimit: 1, WallTimeLimit: 20})
			expect(t, r, testserver.TimeLimitExceeded)
			if r.Time < 1.0 || r.Time > 1.5 {
				t.Errorf("time = %.3f, want within [1.0, 1.5] for a 1 s CPU limit: %s", r.Time, r)
			}
		})
	}
}

// TestMemoryLimit: memory.max stops the run, memory.events (oom_kill)
// tells the verdict, and memory.peak the memory reported.
func TestMemoryLimit(t *testing.T) {
	const limitKiB = 65536
	for lang, code := range map[string]string{
		// Every page is written through a volatile pointer: the compiler
		// may drop a memset whose result is never read.
		"c": `#include <stdio.h>
#include <stdlib.h>
int main(void) {
    size_t n = 512u << 20;
    volatile char *p = malloc(n);
    if (!p) return 42;
    for (size_t i = 0; i < n; i += 4096) p[i] = (char)i;
    printf("%d\n", p[n / 2]);
    return 0;
}
`,
		"python": "b = bytearray(512 * 1024 * 1024)\nprint(len(b))\n",
	} {
		t.Run(lang, func(t *testing.T) {
			r := judge(t, testserver.Job{Language: lang, Code: code, MemoryLimit: limitKiB, TimeLimit: 5, WallTimeLimit: 30})
			expect(t, r, testserver.MemoryLimitExceeded)
			if r.Memory < limitKiB*9/10 || r.Memory > limitKiB*11/10 {
				t.Errorf("memory = %d KiB, want within 10%% of the %d KiB limit: %s", r.Memory, limitKiB, r)
			}
		})
	}
}

// TestForkBomb: pids.max holds a fork bomb; the sandbox is clean and idle
// afterwards.
func TestForkBomb(t *testing.T) {
	r := judge(t, testserver.Job{Language: "c", Code: "#include <unistd.h>\nint main(void) { for (;;) fork(); }\n", TimeLimit: 1, WallTimeLimit: 20})
	if r.Code != testserver.TimeLimitExceeded && r.Code != testserver.RuntimeError {
		t.Fatalf("want TimeLimitExceeded or RuntimeError, got %s", r)
	}
	waitFullStrength(t)
}

// TestOutputFlood: a program that writes without end is stopped at the
// output limit.
func TestOutputFlood(t *testing.T) {
	r := judge(t, testserver.Job{Language: "c", Code: "#include <stdio.h>\nint main(void) { for (;;) puts(\"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\"); }\n", TimeLimit: 10, WallTimeLimit: 60})
	expect(t, r, testserver.OutputLimitExceeded)
	if !r.StdoutTruncated {
		t.Errorf("stdout_truncated is false for a flood: %s", r.String()[:200])
	}
}

// leaver leaves a file in the work directory and in /tmp, and a
// process that outlives it in a session of its own.
const leaver = `import os, time
open("left-behind", "w").write("x")
open("/tmp/left-behind", "w").write("x")
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(120)
    os._exit(0)
os.wait()
print("left")
`

// probe reports anything a previous job left: files and processes other
// than itself and the sandbox's init. It holds its sandbox a moment, so
// that two probes sent at once land on different sandboxes.
const probe = `import os, time
found = [p for p in ("left-behind", "/tmp/left-behind") if os.path.exists(p)]
me = os.getpid()
for d in os.listdir("/proc"):
    if d.isdigit() and int(d) not in (1, me):
        try:
            found.append("process %s: %s" % (d, open("/proc/%s/cmdline" % d, "rb").read().replace(b"\0", b" ").decode()))
        except OSError:
            pass
time.sleep(2)
print("clean" if not found else "; ".join(found))
`

// TestNothingSurvivesAJob: the file and the process a job left are not
// seen by the next job in either sandbox (the one it ran in among them).
func TestNothingSurvivesAJob(t *testing.T) {
	waitFullStrength(t)
	r := judge(t, testserver.Job{Language: "python", Code: leaver, DesiredStdout: "left\n", WallTimeLimit: 30})
	expect(t, r, testserver.Accepted)
	results := make([]*testserver.Result, poolSize)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = testserver.Judge(client, baseURL, testserver.Job{Language: "python", Code: probe, DesiredStdout: "clean\n", WallTimeLimit: 30})
		}()
	}
	wg.Wait()
	var sandboxes []string
	for _, p := range results {
		if p == nil {
			t.Fatal("a probe got no answer")
		}
		if p.Code != testserver.Accepted {
			t.Errorf("probe in sandbox %s: %s", p.Sandbox, p)
		}
		sandboxes = append(sandboxes, p.Sandbox)
	}
	if !slices.Contains(sandboxes, r.Sandbox) {
		t.Errorf("no probe ran in sandbox %s, where the job ran (probes: %v)", r.Sandbox, sandboxes)
	}
}

// TestKilledSandboxesUnderLoad SIGKILLs a random sandbox init a few
// times while jobs run, as an OOM killer or an operator might: every
// request gets its verdict, and the pool is whole again afterwards. The
// kills are spaced so that under TCG, where a job takes seconds, jobs
// still finish between them.
func TestKilledSandboxesUnderLoad(t *testing.T) {
	waitFullStrength(t)
	// Jobs go on until the killer has killed wantKills inits (or a
	// deadline passes): how many jobs that takes depends on how fast the
	// guest runs them.
	const clients, wantKills = 4, 4
	deadline := time.Now().Add(2 * time.Minute)
	killed := make(chan struct{})
	kills := make(chan int, 1)
	go func() {
		defer close(killed)
		n := 0
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for n < wantKills && time.Now().Before(deadline) {
			<-tick.C
			if inits := shared.SandboxInits(); len(inits) > 0 && syscall.Kill(inits[rand.IntN(len(inits))], syscall.SIGKILL) == nil {
				n++
			}
		}
		kills <- n
	}()
	var mu sync.Mutex
	var failures []string
	var jobs atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-killed:
					return
				default:
				}
				i := int(jobs.Add(1))
				in := fmt.Sprintf("%d %d\n", i, i+1)
				r, err := testserver.Judge(client, baseURL, testserver.Job{Language: "python", Code: aPlusB["python"], Stdin: in, DesiredStdout: fmt.Sprintf("%d\n", 2*i+1), WallTimeLimit: 30})
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else if r.Code != testserver.Accepted {
					failures = append(failures, r.String())
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	n := <-kills
	for _, f := range failures {
		t.Errorf("job: %s", f)
	}
	if n < wantKills {
		t.Errorf("only %d sandbox inits killed while jobs ran: the test proved little", n)
	}
	t.Logf("%d jobs answered, %d sandbox inits killed", jobs.Load(), n)
	waitFullStrength(t)
}

// TestProblem judges a stored problem with several tests: the Accepted
// program passes them all, the wrong one fails the third.
func TestProblem(t *testing.T) {
	p := testserver.Package{"problem.yaml": "name: Sum\n", ".timelimit": "2\n"}
	for i := 0; i < 4; i++ {
		dir := "secret"
		if i == 0 {
			dir = "sample"
		}
		p[fmt.Sprintf("data/%s/%02d.in", dir, i)] = fmt.Sprintf("%d %d\n", i, 10*i)
		p[fmt.Sprintf("data/%s/%02d.ans", dir, i)] = fmt.Sprintf("%d\n", 11*i)
	}
	archive, err := p.Zip("")
	if err != nil {
		t.Fatal(err)
	}
	status, sum, body, err := testserver.UploadProblem(client, baseURL, archive, "application/zip")
	if err != nil || (status != 201 && status != 200) {
		t.Fatalf("upload: HTTP %d %s %v", status, body, err)
	}
	for want, code := range map[string]string{
		"Accepted":    aPlusB["c"],
		"WrongAnswer": "a, b = map(int, input().split())\nprint(a + b + (a == 2))\n",
	} {
		lang := "c"
		if want == "WrongAnswer" {
			lang = "python"
		}
		r, err := testserver.JudgeSubmission(client, baseURL, testserver.Submission{Language: lang, Code: code, Problem: sum.ID, Mode: "all"})
		if err != nil {
			t.Fatal(err)
		}
		wantTests := []string{"Accepted", "Accepted", "Accepted", "Accepted"}
		if want == "WrongAnswer" {
			wantTests[2] = "WrongAnswer"
		}
		if r.Status != want || !slices.Equal(r.Verdicts(), wantTests) {
			t.Errorf("%s: %s, want %s with tests %v", lang, r, want, wantTests)
		}
	}
}

// waitFullStrength waits until every sandbox is idle with its container,
// and no run cgroup is left.
func waitFullStrength(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := testserver.GetStatus(client, baseURL)
		inits := shared.SandboxInits()
		left := shared.RunCgroups()
		if err == nil && st.Idle == poolSize && len(inits) == poolSize*testserver.InitsPerSandbox && len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool not whole 2 min on: status %+v (%v), %d sandbox inits, run cgroups %v", st, err, len(inits), left)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
