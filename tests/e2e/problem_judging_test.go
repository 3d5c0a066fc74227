package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// Problems judged end to end: packages written here, uploaded to the
// shared server, submissions judged against them. Like the problem store
// tests these are not parallel (they upload).

// store uploads p and returns its id.
func store(t *testing.T, p testserver.Package) string {
	t.Helper()
	archive, err := p.Zip("")
	if err != nil {
		t.Fatal(err)
	}
	status, sum, body := upload(t, archive, "application/zip")
	if status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("upload: HTTP %d %s", status, body)
	}
	// The store tests that follow want the store as it was.
	t.Cleanup(func() {
		if status, body := request(t, http.MethodDelete, "/v1/problems/"+sum.ID); status != http.StatusNoContent {
			t.Errorf("delete %s: HTTP %d %s", sum.ID, status, body)
		}
	})
	return sum.ID
}

func submit(t *testing.T, problem, lang, code, mode string) *testserver.SubmissionResult {
	t.Helper()
	r, err := testserver.JudgeSubmission(client, baseURL, testserver.Submission{Language: lang, Code: code, Problem: problem, Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// echoPackage: each test's input is a line of words and numbers, the
// answer the same line; judged by the default validator with a float
// tolerance, case-insensitively.
func echoPackage() testserver.Package {
	p := testserver.Package{
		"problem.yaml": "name: Echo\nvalidator_flags: float_tolerance 1e-3\n",
		".timelimit":   "1\n",
	}
	for i, line := range []string{"Hello World 3.14159", "one 2 three", "x 0.5 y", "last 100"} {
		dir := "secret"
		if i == 0 {
			dir = "sample"
		}
		p[fmt.Sprintf("data/%s/%02d.in", dir, i)] = line + "\n"
		p[fmt.Sprintf("data/%s/%02d.ans", dir, i)] = strings.ToUpper(line) + "\n"
	}
	return p
}

// echo programs: each reads a line and prints it back, with numbers
// rounded (accepted within the tolerance), or breaks on the third test
// (x 0.5 y) in its own way.
var echoPrograms = map[string]map[string]string{
	"Accepted": {
		"c":      "#include <stdio.h>\nint main(void){char b[256];if(fgets(b,sizeof b,stdin)){double v;char w[64];if(sscanf(b,\"Hello World %lf\",&v)==1)printf(\"hello world %.4f\\n\",v);else fputs(b,stdout);}return 0;}\n",
		"cpp":    "#include <iostream>\n#include <string>\nint main(){std::string l;std::getline(std::cin,l);std::cout<<l<<\"\\n\";}\n",
		"python": "print(input())\n",
		"java":   "import java.util.*;\npublic class Main { public static void main(String[] a) { System.out.println(new Scanner(System.in).nextLine()); } }\n",
	},
	"WrongAnswer": {
		"python": "l = input()\nprint('z 0.5 y' if l.startswith('x') else l)\n",
		"c":      "#include <stdio.h>\n#include <string.h>\nint main(void){char b[256];fgets(b,sizeof b,stdin);if(b[0]=='x')puts(\"x 0.6 y\");else fputs(b,stdout);return 0;}\n",
		"cpp":    "#include <iostream>\n#include <string>\nint main(){std::string l;std::getline(std::cin,l);std::cout<<(l[0]=='x'?\"x 1 y\":l)<<\"\\n\";}\n",
		"java":   "import java.util.*;\npublic class Main { public static void main(String[] a) { String l = new Scanner(System.in).nextLine(); System.out.println(l.startsWith(\"x\") ? \"x\" : l); } }\n",
	},
	"TimeLimitExceeded": {
		"cpp":    "#include <iostream>\n#include <string>\nint main(){std::string l;std::getline(std::cin,l);if(l[0]=='x')for(volatile long i=0;;i++);std::cout<<l<<\"\\n\";}\n",
		"java":   "import java.util.*;\npublic class Main { public static void main(String[] a) { String l = new Scanner(System.in).nextLine(); if (l.startsWith(\"x\")) for (;;) {} System.out.println(l); } }\n",
		"c":      "#include <stdio.h>\nint main(void){char b[256];fgets(b,sizeof b,stdin);if(b[0]=='x')for(volatile long i=0;;i++);fputs(b,stdout);return 0;}\n",
		"python": "l = input()\nwhile l.startswith('x'): pass\nprint(l)\n",
	},
	"RuntimeError": {
		"java":   "import java.util.*;\npublic class Main { public static void main(String[] a) { String l = new Scanner(System.in).nextLine(); if (l.startsWith(\"x\")) throw new RuntimeException(\"boom\"); System.out.println(l); } }\n",
		"python": "l = input()\nif l.startswith('x'): raise SystemExit(3)\nprint(l)\n",
		"c":      "#include <stdio.h>\nint main(void){char b[256];fgets(b,sizeof b,stdin);if(b[0]=='x'){int *p=0;*p=1;}fputs(b,stdout);return 0;}\n",
		"cpp":    "#include <iostream>\n#include <string>\n#include <stdexcept>\nint main(){std::string l;std::getline(std::cin,l);if(l[0]=='x')throw std::runtime_error(\"boom\");std::cout<<l<<\"\\n\";}\n",
	},
	"CompileError": {
		"c":      "int main( {",
		"java":   "public class Main { void f( }",
		"cpp":    "int main() { return x; }",
		"python": "def f(:\n    pass\n",
	},
}

func TestProblemDefaultValidator(t *testing.T) {
	startSerial(t)
	id := store(t, echoPackage())
	for want, byLang := range echoPrograms {
		for lang, code := range byLang {
			t.Run(want+"/"+lang, func(t *testing.T) {
				r := submit(t, id, lang, code, "")
				if r.Status != want || len(r.Tests) != 4 {
					t.Fatalf("first-failure: %s, want %s over 4 tests", r, want)
				}
				switch want {
				case "Accepted":
					if !slices.Equal(r.Verdicts(), []string{"Accepted", "Accepted", "Accepted", "Accepted"}) || r.Tests[0].Group != "sample" {
						t.Errorf("tests %v, first group %q", r.Verdicts(), r.Tests[0].Group)
					}
				case "CompileError":
					if r.CompileOutput == "" {
						t.Error("no compile output")
					}
				default:
					if v := r.Verdicts(); v[2] != want || v[3] != "Skipped" || v[0] != "Accepted" {
						t.Errorf("tests %v: the third should fail and the fourth be skipped", v)
					}
					all := submit(t, id, lang, code, "all")
					if v := all.Verdicts(); all.Status != want || v[2] != want || v[3] != "Accepted" {
						t.Errorf("mode all: %s", all)
					}
				}
				if want == "WrongAnswer" && r.Tests[2].Feedback == "" {
					t.Errorf("no feedback from the default validator: %+v", r.Tests[2])
				}
				if want == "TimeLimitExceeded" && r.Tests[2].Time < 0.9 {
					t.Errorf("TLE at %.3f s: the problem's 1 s limit was not the one applied", r.Tests[2].Time)
				}
			})
		}
	}
}

// sumValidatorCpp is a Kattis-protocol validator: the answer file holds
// the sum, the program's output must equal it.
const sumValidatorCpp = `#include <fstream>
#include <iostream>
#include <string>
int main(int argc, char **argv) {
	std::ifstream ans(argv[2]);
	long long want = 0, got = 0;
	ans >> want;
	std::ofstream msg(std::string(argv[3]) + "judgemessage.txt");
	if (!(std::cin >> got)) { msg << "no number in the output"; return 43; }
	if (got != want) { msg << "expected " << want << ", got " << got; return 43; }
	std::string extra;
	if (std::cin >> extra) { msg << "trailing output"; return 43; }
	return 42;
}
`

// sumPackage2 has an A+B problem with a custom validator: small tests and
// one whose input and answer are a few MiB (the answer padded with spaces
// the validator skips).
func sumProblem(validator testserver.Package) testserver.Package {
	var big, pad strings.Builder
	sum := 0
	for i := 0; big.Len() < 3<<20; i++ {
		fmt.Fprintf(&big, "%d ", i%1000)
		sum += i % 1000
	}
	for pad.Len() < 2<<20 {
		pad.WriteString("          \n")
	}
	p := testserver.Package{
		"data/sample/1.in":   "2\n1 2\n",
		"data/sample/1.ans":  "3\n",
		"data/secret/01.in":  "3\n5 5 5\n",
		"data/secret/01.ans": "15\n",
		"data/secret/02.in":  fmt.Sprintf("%d\n%s\n", strings.Count(big.String(), " "), big.String()),
		"data/secret/02.ans": fmt.Sprintf("%d\n%s", sum, pad.String()),
	}
	for k, v := range validator {
		p[k] = v
	}
	return p
}

const sumC = `#include <stdio.h>
int main(void) { long n, x, s = 0; scanf("%ld", &n); while (n-- > 0 && scanf("%ld", &x) == 1) s += x; printf("%ld\n", s); return 0; }
`

const sumCpp = `#include <iostream>
int main() { long n, x, s = 0; std::cin >> n; while (n-- > 0 && std::cin >> x) s += x; std::cout << s << "\n"; }
`

const sumJava = `import java.io.*;
import java.util.*;
public class Main {
	public static void main(String[] a) throws IOException {
		StreamTokenizer in = new StreamTokenizer(new BufferedInputStream(System.in));
		in.nextToken(); long n = (long) in.nval, s = 0;
		while (n-- > 0 && in.nextToken() != StreamTokenizer.TT_EOF) s += (long) in.nval;
		System.out.println(s);
	}
}
`

const sumPy = "import sys\nv = list(map(int, sys.stdin.read().split()))\nprint(sum(v[1:]) + (1 if v[0] == 3 else 0))\n"

func TestProblemCustomValidators(t *testing.T) {
	startSerial(t)
	kattis := store(t, sumProblem(testserver.Package{
		"problem.yaml":                       "name: Sum\nvalidation: custom\n",
		"output_validators/sum/validate.cpp": sumValidatorCpp,
	}))
	testlib := store(t, sumProblem(testserver.Package{
		"problem.yaml": "name: Sum (testlib)\nvalidation: custom\nvalidator_protocol: testlib\n",
		// A checker in the testlib protocol, without testlib itself:
		// checker input output answer; exit 0 OK, 1 wrong answer.
		"output_validators/chk/chk.c": `#include <stdio.h>
int main(int argc, char **argv) {
	FILE *o = fopen(argv[2], "r"), *a = fopen(argv[3], "r");
	long got, want;
	if (fscanf(a, "%ld", &want) != 1) { fputs("bad answer file", stderr); return 3; }
	if (fscanf(o, "%ld", &got) != 1 || got != want) { fprintf(stderr, "wrong sum, expected %ld", want); return 1; }
	fputs("ok", stderr);
	return 0;
}
`,
	}))
	for name, id := range map[string]string{"kattis": kattis, "testlib": testlib} {
		t.Run(name, func(t *testing.T) {
			// Sources of this subtest's own: the compile cache would serve
			// the other subtest's programs.
			own := "// " + name + "\n"
			before := compiles(t, "c") + compiles(t, "cpp")
			r := submit(t, id, "c", own+sumC, "")
			if r.Status != "Accepted" || len(r.Tests) != 3 {
				t.Fatalf("sum in C: %s", r)
			}
			r = submit(t, id, "python", sumPy, "all")
			want := []string{"Accepted", "WrongAnswer", "Accepted"}
			if r.Status != "WrongAnswer" || !slices.Equal(r.Verdicts(), want) || !strings.Contains(r.Tests[1].Feedback, "15") {
				t.Errorf("python off by one on the 3-number test: %s, feedback %q; want %v with the validator's message", r, r.Tests[1].Feedback, want)
			}
			// The validator was compiled once (with the first submission),
			// the C program once: a second C submission compiles only itself.
			mid := compiles(t, "c") + compiles(t, "cpp")
			submit(t, id, "c", own+sumC+"\n", "")
			if after := compiles(t, "c") + compiles(t, "cpp"); after != mid+1 || mid > before+2 {
				t.Errorf("compiles %d -> %d -> %d: the validator must compile once per problem", before, mid, after)
			}
			for lang, code := range map[string]string{"cpp": sumCpp, "java": sumJava} {
				if r := submit(t, id, lang, code, "all"); r.Status != "Accepted" {
					t.Errorf("sum in %s: %s", lang, r)
				}
			}
			// A multi-file submission against the problem.
			r, err := testserver.JudgeSubmission(client, baseURL, testserver.Submission{Language: "cpp", Problem: id, Files: []testserver.SourceFile{
				{Name: "sum.h", Content: "long sum(long n);\n"},
				{Name: "sum.cpp", Content: "#include <cstdio>\n#include \"sum.h\"\nlong sum(long n) { long s = 0, x; while (n-- > 0 && scanf(\"%ld\", &x) == 1) s += x; return s; }\n"},
				{Name: "main.cpp", Content: "#include <cstdio>\n#include \"sum.h\"\nint main() { long n; scanf(\"%ld\", &n); printf(\"%ld\\n\", sum(n)); }\n"},
			}})
			if err != nil || r.Status != "Accepted" {
				t.Errorf("multi-file C++: %v %v", r, err)
			}
		})
	}
}

func TestProblemBrokenValidator(t *testing.T) {
	startSerial(t)
	id := store(t, sumProblem(testserver.Package{
		"problem.yaml":                  "name: Broken validator\nvalidation: custom\n",
		"output_validators/v/crash.c":   "#include <stdlib.h>\nint main(void) { abort(); }\n",
		"output_validators/v/README.md": "crashes on purpose\n",
	}))
	r := submit(t, id, "c", sumC, "")
	if r.Status != "InternalError" || r.Tests[0].Status != "InternalError" || !strings.Contains(r.Tests[0].Feedback, "signal") {
		t.Fatalf("a crashing validator: %s (feedback %q), want InternalError naming the signal", r, r.Tests[0].Feedback)
	}
	// The server is fine and judges the next submission.
	if r := judgeSubmission(t, testserver.Submission{Language: "c", Code: sumC, Tests: []testserver.InlineTest{{Stdin: "1 5", Answer: "5"}}}); r.Status != "Accepted" {
		t.Errorf("after the broken validator: %s", r)
	}
	status, body := post(t, "/v1/judge/submission", "application/json", []byte(`{"language":"c","code":"int main(){}","problem":"sha256:`+strings.Repeat("0", 64)+`"}`))
	if status != http.StatusNotFound {
		t.Errorf("unknown problem: HTTP %d %s, want 404", status, body)
	}
}

// groupsPackage is a scoring problem in the 2023-07 format: secret has
// two pass-fail groups worth 40 and 60; each test doubles its input.
func groupsPackage() testserver.Package {
	p := testserver.Package{
		"problem.yaml":                   "problem_format_version: 2023-07-draft\nname: Groups\ntype: scoring\n",
		"data/sample/1.in":               "1\n",
		"data/sample/1.ans":              "2\n",
		"data/secret/g1/test_group.yaml": "max_score: 40\n",
		"data/secret/g2/test_group.yaml": "max_score: 60\n",
	}
	for g, inputs := range map[string][]int{"g1": {3, 4}, "g2": {50, 60}} {
		for i, n := range inputs {
			p[fmt.Sprintf("data/secret/%s/%d.in", g, i)] = fmt.Sprintf("%d\n", n)
			p[fmt.Sprintf("data/secret/%s/%d.ans", g, i)] = fmt.Sprintf("%d\n", 2*n)
		}
	}
	return p
}

func TestProblemScoring(t *testing.T) {
	startSerial(t)
	id := store(t, groupsPackage())
	// Doubles, except for inputs over limit (printed as they are).
	program := func(limit int) string {
		return fmt.Sprintf("n = int(input())\nprint(2 * n if n <= %d else n)\n", limit)
	}
	for _, c := range []struct {
		name   string
		code   string
		score  float64
		status string
	}{
		{"all groups", program(1000), 100, "Accepted"},
		{"first group only", program(10), 40, "WrongAnswer"},
		{"samples only", program(1), 0, "WrongAnswer"},
	} {
		for _, mode := range []string{"first-failure", "all"} {
			r := submit(t, id, "python", c.code, mode)
			if r.Score == nil || *r.Score != c.score || r.Status != c.status {
				t.Errorf("%s (%s): %s, want score %v and %s", c.name, mode, r, c.score, c.status)
			}
		}
	}
	// C++ and Java too.
	cpp := "#include <iostream>\nint main(){long n;std::cin>>n;std::cout<<(n<=10?2*n:n)<<\"\\n\";}\n"
	java := "import java.util.*;\npublic class Main { public static void main(String[] a) { long n = new Scanner(System.in).nextLong(); System.out.println(n <= 10 ? 2*n : n); } }\n"
	for lang, code := range map[string]string{"cpp": cpp, "java": java} {
		if r := submit(t, id, lang, code, "all"); r.Score == nil || *r.Score != 40 {
			t.Errorf("%s: %s, want score 40", lang, r)
		}
	}
}

// TestJudgeProblemCLI runs `pecan judge --problem` against the shared
// server and in a pool of its own, on a package directory.
func TestJudgeProblemCLI(t *testing.T) {
	startSerial(t)
	dir := t.TempDir()
	pkg := filepath.Join(dir, "double")
	files := testserver.Package{"problem.yaml": "name: Double\n", "data/sample/1.in": "1\n", "data/sample/1.ans": "2\n"}
	for i := 2; i <= 4; i++ {
		files[fmt.Sprintf("data/secret/%d.in", i)] = fmt.Sprintf("%d\n", i)
		files[fmt.Sprintf("data/secret/%d.ans", i)] = fmt.Sprintf("%d\n", 2*i)
	}
	for name, content := range files {
		p := filepath.Join(pkg, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The CLI uploads the package to the server: the store tests that
	// follow want the store as it was.
	t.Cleanup(func() {
		status, body := get(t, "/v1/problems")
		var list []testserver.ProblemSummary
		if status != http.StatusOK || json.Unmarshal(body, &list) != nil {
			t.Errorf("list problems: HTTP %d %s", status, body)
		}
		for _, p := range list {
			if p.Name == "Double" {
				request(t, http.MethodDelete, "/v1/problems/"+p.ID)
			}
		}
	})
	good, bad := filepath.Join(dir, "good.py"), filepath.Join(dir, "bad.py")
	os.WriteFile(good, []byte("print(2 * int(input()))\n"), 0o644)
	os.WriteFile(bad, []byte("n = int(input())\nprint(2 * n if n < 4 else 0)\n"), 0o644)

	run := func(args ...string) (string, error) {
		cmd := exec.Command(suite.Bin, append([]string{"judge", "--log-level", "warn"}, args...)...)
		cmd.Dir = suite.Repo
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, where := range []struct {
		name string
		args []string
	}{
		{"server", []string{"--server", baseURL}},
		{"in-process", []string{"--config", filepath.Join(suite.Repo, "pecan.toml"), "--data-dir", testserver.DataDir()}},
	} {
		t.Run(where.name, func(t *testing.T) {
			out, err := run(append(where.args, "--problem", pkg, good)...)
			if err != nil || !strings.Contains(out, "secret/4") || !strings.Contains(out, "submission  Accepted") {
				t.Errorf("good submission: %v\n%s", err, out)
			}
			// Against a server, a progress bar follows the tests' events.
			if where.name == "server" && !strings.Contains(out, "] 4/4 tests") {
				t.Errorf("no progress bar reaching 4/4 tests:\n%s", out)
			}
			out, err = run(append(where.args, "--problem", pkg, "--mode", "all", bad)...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || !strings.Contains(out, "WrongAnswer") || !strings.Contains(out, `expected "8"`) {
				t.Errorf("bad submission: %v (want a failing exit status)\n%s", err, out)
			}
		})
	}
}
