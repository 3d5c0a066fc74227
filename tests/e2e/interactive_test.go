package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// Interactive problems judged end to end: guess the number, with a
// validator that answers each guess with higher, lower or correct. The
// same submissions meet a C++ validator in the Kattis protocol and a
// Python interactor in the testlib protocol.

// guessMax is the range 1..guessMax the number is in; guessTries is how
// many guesses a validator allows (binary search needs 10).
const (
	guessMax   = 1000
	guessTries = 12
)

// guessSecrets are the tests' numbers: none among the first guessTries,
// so a program that guesses 1, 2, 3... is rejected on each.
var guessSecrets = []int{737, 1000, 13}

// guessPackage is the problem with validator files (problem.yaml
// included) and optional extra limits.
func guessPackage(validator testserver.Package) testserver.Package {
	p := testserver.Package{".timelimit": "1\n"}
	for i, x := range guessSecrets {
		dir := "secret"
		if i == 0 {
			dir = "sample"
		}
		p[fmt.Sprintf("data/%s/%d.in", dir, i)] = fmt.Sprintf("%d %d\n", guessMax, x)
		p[fmt.Sprintf("data/%s/%d.ans", dir, i)] = fmt.Sprintf("%d\n", x)
	}
	for k, v := range validator {
		p[k] = v
	}
	return p
}

// guessValidatorCpp speaks the Kattis protocol: validator input answer
// feedback_dir, exit 42 accepted, 43 wrong answer.
var guessValidatorCpp = fmt.Sprintf(`#include <csignal>
#include <cstdio>
#include <string>
int main(int argc, char **argv) {
	// A program that stops reading must not kill the validator.
	std::signal(SIGPIPE, SIG_IGN);
	long n, x;
	FILE *in = std::fopen(argv[1], "r");
	if (!in || std::fscanf(in, "%%ld %%ld", &n, &x) != 2) return 1;
	FILE *msg = std::fopen((std::string(argv[3]) + "/judgemessage.txt").c_str(), "w");
	std::printf("%%ld\n", n);
	std::fflush(stdout);
	for (int k = 1; k <= %d; k++) {
		long g;
		if (std::scanf("%%ld", &g) != 1) { std::fprintf(msg, "guess %%d: no number\n", k); return 43; }
		if (g < 1 || g > n) { std::fprintf(msg, "guess %%ld is out of range 1..%%ld\n", g, n); return 43; }
		if (g == x) {
			std::printf("correct\n");
			std::fflush(stdout);
			std::fprintf(msg, "found %%ld in %%d guesses\n", x, k);
			return 42;
		}
		std::printf(g < x ? "higher\n" : "lower\n");
		std::fflush(stdout);
	}
	std::fprintf(msg, "more than %d guesses\n");
	return 43;
}
`, guessTries, guessTries)

// guessInteractorPy speaks the testlib protocol: interactor input output,
// exit 0 ok, 1 wrong answer, its message on stderr.
var guessInteractorPy = fmt.Sprintf(`import os, sys

n, x = map(int, open(sys.argv[1]).read().split())
out = open(sys.argv[2], "w")

def finish(code, message):
    out.write(message + "\n")
    out.close()
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    os._exit(code)  # not sys.exit: flushing a broken stdout would change the status

def say(line):
    try:
        print(line, flush=True)
    except BrokenPipeError:
        finish(1, "the program stopped listening")

say(n)
for k in range(1, %d + 1):
    line = sys.stdin.readline()
    try:
        g = int(line)
    except ValueError:
        finish(1, "guess %%d: not a number: %%r" %% (k, line[:20]))
    if not 1 <= g <= n:
        finish(1, "guess %%d is out of range 1..%%d" %% (g, n))
    if g == x:
        say("correct")
        finish(0, "ok found %%d in %%d guesses" %% (x, k))
    say("higher" if g < x else "lower")
finish(1, "more than %d guesses")
`, guessTries, guessTries)

// Correct programs: binary search, flushing after each guess.
var guessCorrect = map[string]string{
	"c": `#include <stdio.h>
#include <string.h>
int main(void) {
	long n, lo = 1, hi;
	char r[16];
	if (scanf("%ld", &n) != 1) return 1;
	hi = n;
	for (;;) {
		long m = (lo + hi) / 2;
		printf("%ld\n", m);
		fflush(stdout);
		if (scanf("%15s", r) != 1) return 1;
		if (!strcmp(r, "correct")) return 0;
		if (!strcmp(r, "higher")) lo = m + 1; else hi = m - 1;
	}
}
`,
	"cpp": guessCpp(""),
	"python": `lo, hi = 1, int(input())
while True:
    m = (lo + hi) // 2
    print(m, flush=True)
    r = input()
    if r == "correct":
        break
    if r == "higher":
        lo = m + 1
    else:
        hi = m - 1
`,
	"java": `import java.io.*;
public class Main {
	public static void main(String[] a) throws IOException {
		BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
		long lo = 1, hi = Long.parseLong(in.readLine().trim());
		for (;;) {
			long m = (lo + hi) / 2;
			System.out.println(m);
			System.out.flush();
			String r = in.readLine();
			if (r.equals("correct")) return;
			if (r.equals("higher")) lo = m + 1; else hi = m - 1;
		}
	}
}
`,
}

// guessCpp is binary search in C++, doing after on being told correct.
func guessCpp(after string) string {
	return `#include <cstdlib>
#include <iostream>
#include <string>
int main() {
	long n, lo = 1, hi;
	std::cin >> n;
	hi = n;
	for (std::string r;;) {
		long m = (lo + hi) / 2;
		std::cout << m << std::endl;
		if (!(std::cin >> r)) return 1;
		if (r == "correct") { ` + after + ` return 0; }
		if (r == "higher") lo = m + 1; else hi = m - 1;
	}
}
`
}

// guessBroken are programs that fail on every test, each its own way,
// with the verdict each must get.
var guessBroken = []struct {
	name, lang, code, want string
}{
	{"wrong guess", "python", "input()\nprint(5000, flush=True)\n", "WrongAnswer"},
	// Its input ends because the validator has rejected the guess and
	// exited: the validator said so first.
	{"crash right after a wrong guess", "python", "input()\nprint(0, flush=True)\ninput()\n", "WrongAnswer"},
	{"crash after the validator accepted", "cpp", guessCpp("std::abort();"), "RuntimeError"},
	// Its guess stays in its buffer, and both wait for each other until
	// the program's wall limit.
	{"forgets to flush", "c", strings.Replace(guessCorrect["c"], "fflush(stdout);", "", 1), "TimeLimitExceeded"},
	{"never reads", "c", "#include <stdio.h>\nint main(void) { for (int i = 1; i <= 1000; i++) { printf(\"%d\\n\", i); fflush(stdout); } return 0; }\n", "WrongAnswer"},
	{"floods output", "python", "import sys\nwhile True:\n    sys.stdout.write('1\\n' * 4096)\n", "WrongAnswer"},
}

func TestProblemInteractive(t *testing.T) {
	startSerial(t)
	baseline := idlePipes(t)
	ids := map[string]string{
		"kattis": store(t, guessPackage(testserver.Package{
			"problem.yaml":                      "name: Guess\nvalidation: custom interactive\n",
			"output_validators/guess/guess.cpp": guessValidatorCpp,
		})),
		"testlib": store(t, guessPackage(testserver.Package{
			"problem.yaml":                   "problem_format_version: 2023-07-draft\nname: Guess (testlib)\ntype: interactive\nvalidator_protocol: testlib\n",
			"output_validator/interactor.py": guessInteractorPy,
		})),
	}
	for proto, id := range ids {
		t.Run(proto, func(t *testing.T) {
			for lang, code := range guessCorrect {
				r := submit(t, id, lang, code, "all")
				if r.Status != "Accepted" || !slices.Equal(r.Verdicts(), []string{"Accepted", "Accepted", "Accepted"}) {
					t.Errorf("%s binary search: %s", lang, r)
					continue
				}
				if !strings.Contains(r.Tests[2].Feedback, "found 13 in") {
					t.Errorf("%s: feedback %q, want the validator's message", lang, r.Tests[2].Feedback)
				}
			}
			for _, c := range guessBroken {
				r := submit(t, id, c.lang, c.code, "")
				if r.Status != c.want || !slices.Equal(r.Verdicts(), []string{c.want, "Skipped", "Skipped"}) {
					t.Errorf("%s: %s (feedback %q), want %s", c.name, r, firstFeedback(r), c.want)
				}
				if c.name == "wrong guess" && !strings.Contains(firstFeedback(r), "out of range") {
					t.Errorf("wrong guess: feedback %q, want the validator's reason", firstFeedback(r))
				}
				if c.want == "TimeLimitExceeded" && r.Tests[0].Time > 1.5 {
					t.Errorf("%s: %.2f s of CPU: the wait counted as CPU time", c.name, r.Tests[0].Time)
				}
			}
		})
	}
	noneLeft(t, baseline)
	nextJobClean(t)
}

// TestProblemInteractiveBrokenValidators: a validator's failure is the
// judge's, never the program's.
func TestProblemInteractiveBrokenValidators(t *testing.T) {
	startSerial(t)
	baseline := idlePipes(t)
	crash := store(t, guessPackage(testserver.Package{
		"problem.yaml": "name: Guess (crashing validator)\nvalidation: custom interactive\n",
		// A fault, not abort(): nsjail runs programs as pid 1 of their pid
		// namespace, where the SIGABRT abort() sends itself is dropped and
		// glibc ends it with SIGSEGV, a different signal than elsewhere.
		"output_validators/v/crash.py": "import ctypes, sys\nprint(1000, flush=True)\nsys.stdin.readline()\nctypes.string_at(0)\n",
	}))
	hang := store(t, guessPackage(testserver.Package{
		"problem.yaml":                "name: Guess (hanging validator)\nvalidation: custom interactive\nlimits:\n  validation_time: 1\n",
		"output_validators/v/hang.py": "import time\nprint(1000, flush=True)\ntime.sleep(3600)\n",
	}))
	r := submit(t, crash, "python", guessCorrect["python"], "")
	if r.Status != "InternalError" || !strings.Contains(firstFeedback(r), "signal 11") {
		t.Errorf("crashing validator: %s (feedback %q), want InternalError naming the signal", r, firstFeedback(r))
	}
	began := time.Now()
	r = submit(t, hang, "python", guessCorrect["python"], "")
	if r.Status != "InternalError" || !strings.Contains(firstFeedback(r), "timed out") {
		t.Errorf("hanging validator: %s (feedback %q), want InternalError: timed out", r, firstFeedback(r))
	}
	// The program's wall limit is 4 s (1 s × 3 + 1); the validator's
	// a second past it.
	if took := time.Since(began); took < 5*time.Second {
		t.Errorf("hanging validator judged in %v: it was not left to its limit", took)
	}
	noneLeft(t, baseline)
	nextJobClean(t)
}

// TestProblemInteractiveTransports: the async endpoint, two interactive
// submissions at once on the pool of two, and `pecan judge --problem`.
func TestProblemInteractiveTransports(t *testing.T) {
	startSerial(t)
	pkg := guessPackage(testserver.Package{
		"problem.yaml":                      "name: Guess\nvalidation: custom interactive\n",
		"output_validators/guess/guess.cpp": guessValidatorCpp,
	})
	id := store(t, pkg)

	// Alone, then two at a time: the same verdicts.
	subs := []struct{ lang, code string }{
		{"c", guessCorrect["c"]}, {guessBroken[5].lang, guessBroken[5].code},
		{"python", guessCorrect["python"]}, {guessBroken[2].lang, guessBroken[2].code},
	}
	alone := make([][]string, len(subs))
	for i, s := range subs {
		alone[i] = submit(t, id, s.lang, s.code, "all").Verdicts()
	}
	together := make([][]string, len(subs))
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := testserver.JudgeSubmission(client, baseURL, testserver.Submission{Language: s.lang, Code: s.code, Problem: id, Mode: "all"})
			if err != nil {
				t.Error(err)
				return
			}
			together[i] = r.Verdicts()
		}()
		if i%2 == 1 {
			wg.Wait() // two at a time
		}
	}
	for i := range subs {
		if !slices.Equal(alone[i], together[i]) {
			t.Errorf("submission %d (%s): %v alone, %v beside another", i, subs[i].lang, alone[i], together[i])
		}
	}

	body, _ := json.Marshal(map[string]any{"language": "java", "code": guessCorrect["java"], "problem": id, "mode": "all"})
	status, b := post(t, "/v1/judge/submission-async", "application/json", body)
	var acc struct {
		RequestID string `json:"request_id"`
	}
	if status != http.StatusOK || json.Unmarshal(b, &acc) != nil || acc.RequestID == "" {
		t.Fatalf("submission-async: HTTP %d %s", status, b)
	}
	var r testserver.SubmissionResult
	if err := json.Unmarshal(waitAsync(t, baseURL, acc.RequestID, 2*time.Minute), &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "Accepted" || len(r.Tests) != 3 || !strings.Contains(r.Tests[0].Feedback, "found 737") {
		t.Errorf("async: %s, feedback %q", &r, firstFeedback(&r))
	}

	dir := t.TempDir()
	for name, content := range pkg {
		p := filepath.Join(dir, "guess", filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good, bad := filepath.Join(dir, "good.py"), filepath.Join(dir, "bad.py")
	os.WriteFile(good, []byte(guessCorrect["python"]), 0o644)
	os.WriteFile(bad, []byte(guessBroken[0].code), 0o644)
	for file, want := range map[string]string{good: "submission  Accepted", bad: "WrongAnswer"} {
		cmd := exec.Command(suite.Bin, "judge", "--log-level", "warn", "--server", baseURL, "--problem", filepath.Join(dir, "guess"), file)
		cmd.Dir = suite.Repo
		out, err := cmd.CombinedOutput()
		if !strings.Contains(string(out), want) || (want == "WrongAnswer") != (err != nil) {
			t.Errorf("pecan judge --problem %s: %v\n%s", filepath.Base(file), err, out)
		}
	}
}

func firstFeedback(r *testserver.SubmissionResult) string {
	if len(r.Tests) == 0 {
		return ""
	}
	return r.Tests[0].Feedback
}

// idlePipes is the number of pipes the idle shared server holds.
func idlePipes(t *testing.T) int {
	t.Helper()
	p, err := server.Pipes()
	if err != nil {
		t.Fatal(err)
	}
	return len(p)
}

// noneLeft wants the shared server back as it was when idle: no more
// pipes than then, no run cgroup, the settled processes of each sandbox
// (on the container, its two containers; none left for a validator),
// within a deadline.
func noneLeft(t *testing.T, pipes int) {
	t.Helper()
	want := 2 * testserver.SettledInits(testserver.Backend())
	deadline := time.Now().Add(15 * time.Second)
	for {
		p, err := server.Pipes()
		if err != nil {
			t.Fatal(err)
		}
		cgs, inits := server.RunCgroups(), server.SandboxInits()
		if len(p) <= pipes && len(cgs) == 0 && len(inits) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: pipes %v (%d when idle), run cgroups %v, %d sandbox inits (want %d)", p, pipes, cgs, len(inits), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nextJobClean: the jobs after the interactive ones find in the work
// directory only their own source, an empty /tmp, and no process but the
// container's init and their own.
func nextJobClean(t *testing.T) {
	t.Helper()
	code := "import json, os\nprint(json.dumps([os.listdir('.'), os.listdir('/tmp'), [p for p in os.listdir('/proc') if p.isdigit()]]))\n"
	var wg sync.WaitGroup
	for range 2 { // two at once: one on each sandbox
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := judge(t, testserver.Job{Language: "python", Code: code, TimeLimit: 2, MemoryLimit: 65536})
			var seen [3][]string
			if err := json.Unmarshal([]byte(r.Stdout), &seen); err != nil {
				t.Errorf("listing job: %s: %v", r, err)
				return
			}
			if len(seen[0]) != 1 || len(seen[1]) != 0 || len(seen[2]) > 2 {
				t.Errorf("the next job sees what an interactive one left: work dir %q, /tmp %q, processes %q", seen[0], seen[1], seen[2])
			}
		}()
	}
	wg.Wait()
}
