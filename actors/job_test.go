package actors

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/pecan-judge/pecan/backends"
	"github.com/pecan-judge/pecan/backends/fake"
	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/judge"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
	"github.com/pecan-judge/pecan/plan"
)

// testLanguages is a compiled language (c) and an interpreted one (py).
func testLanguages(t *testing.T) *languages.Registry {
	t.Helper()
	r, err := languages.New(map[string]config.Language{
		"c": {
			Source:        "main.c",
			Compile:       []string{"/usr/bin/cc", "-O2", "-o", "main", "{source}"},
			Run:           []string{"./main"},
			CompileLimits: config.Step{Time: 5, MemoryMiB: 300},
		},
		"py": {
			Aliases:        []string{"python"},
			Source:         "main.py",
			Run:            []string{"/usr/bin/python3", "-X", "heap={memory_mib}", "{source}"},
			Env:            []string{"PYTHONHASHSEED=0"},
			ExtraTime:      0.5,
			ExtraMemoryMiB: 16,
			RunProcesses:   4,
		},
	}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// program is the fake "toolchain": compiling main.c fails when the source
// contains "error"; running prints what follows "print ", "crash" exits 1,
// "tle" reports a CPU kill.
func program(_ context.Context, _ *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
	res := backends.RunResult{CPU: 10 * time.Millisecond, Wall: 20 * time.Millisecond, MemoryPeak: 4 << 20}
	switch spec.Args[0] {
	case "/usr/bin/cc":
		if bytes.Contains(files["main.c"], []byte("error")) {
			res.ExitCode = 1
			res.Stderr = []byte("main.c:1:1: error: expected ';'")
		}
		files["main"] = []byte("binary")
		return res, nil
	case "./main", "/usr/bin/python3":
		src := string(files["main.c"]) + string(files["main.py"])
		switch {
		case strings.HasPrefix(src, "print "):
			res.Stdout = []byte(strings.TrimPrefix(src, "print ") + "\n")
		case src == "crash":
			res.ExitCode = 1
		case src == "tle":
			res.CPU = spec.Limits.CPU
			res.CPUExceeded = true
			res.Signal = 9
		case src == "slow":
			// Finished, but over the limit: the pipeline must see it.
			res.CPU = spec.Limits.CPU + time.Millisecond
		case src == "stdin":
			res.Stdout = spec.Stdin
		}
		return res, nil
	}
	return res, fmt.Errorf("unknown program %v", spec.Args)
}

func request(lang, code, want string) *messages.ExecuteRequest {
	return &messages.ExecuteRequest{
		RequestId:     "r-" + lang,
		Language:      lang,
		Code:          []byte(code),
		DesiredStdout: []byte(want),
		Limits:        &messages.Limits{CpuSeconds: 1, WallSeconds: 3, MemoryKib: 65537},
	}
}

func runOne(t *testing.T, run fake.RunFunc, req *messages.ExecuteRequest, lim config.Limits) (*messages.ExecuteResponse, error) {
	t.Helper()
	b := fake.New(run)
	sb, err := b.New(context.Background(), "t-0")
	if err != nil {
		t.Fatal(err)
	}
	lang, ok := testLanguages(t).Lookup(req.GetLanguage())
	if !ok {
		t.Fatalf("no language %s", req.GetLanguage())
	}
	return RunJob(context.Background(), sb, lang, req, JobConfig{Limits: lim, Node: "n1"})
}

func TestRunJobVerdicts(t *testing.T) {
	cases := []struct {
		name string
		req  *messages.ExecuteRequest
		want judge.Verdict
	}{
		{"accepted interpreted", request("py", "print 42", "42"), judge.Accepted},
		{"accepted compiled", request("c", "print 42", "42\n\n"), judge.Accepted},
		{"wrong answer", request("python", "print 41", "42"), judge.WrongAnswer},
		{"runtime error", request("c", "crash", ""), judge.RuntimeError},
		{"time limit (killed)", request("py", "tle", ""), judge.TimeLimitExceeded},
		{"time limit (over, not killed)", request("py", "slow", ""), judge.TimeLimitExceeded},
		{"compile error", request("c", "error", ""), judge.CompileError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := runOne(t, program, c.req, config.Default().Limits)
			if err != nil {
				t.Fatal(err)
			}
			if judge.Verdict(resp.Code) != c.want || resp.Status != c.want.String() {
				t.Fatalf("got %d %s, want %v (%+v)", resp.Code, resp.Status, c.want, resp)
			}
			if resp.Sandbox != "t-0" || resp.Node != "n1" || resp.RequestId != c.req.RequestId {
				t.Fatalf("identity fields wrong: %+v", resp)
			}
		})
	}
}

func TestRunJobCompileErrorOutput(t *testing.T) {
	resp, err := runOne(t, program, request("c", "error", ""), config.Default().Limits)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.CompileOutput, "expected ';'") {
		t.Fatalf("compile output %q lacks the compiler's message", resp.CompileOutput)
	}
	// A compiler over its time limit is a compile error too, with a note.
	tooSlow := func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		return backends.RunResult{CPUExceeded: true, Signal: 9, Stderr: bytes.Repeat([]byte("x"), 100<<10)}, nil
	}
	resp, err = runOne(t, tooSlow, request("c", "print 1", "1"), config.Default().Limits)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != int32(judge.CompileError) || len(resp.CompileOutput) > compileOutputMax {
		t.Fatalf("got %d with %d bytes of output", resp.Code, len(resp.CompileOutput))
	}
}

func TestRunJobLimits(t *testing.T) {
	lim := config.Limits{OutputKiB: 64, Processes: 32, OpenFiles: 100, FileSizeKiB: 1024, StackKiB: 8192}
	var specs []backends.RunSpec
	capture := func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		specs = append(specs, spec)
		return program(ctx, sb, spec, files)
	}
	req := request("py", "stdin", "hello")
	req.Stdin = []byte("hello")
	resp, err := runOne(t, capture, req, lim)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != int32(judge.Accepted) {
		t.Fatalf("got %s", resp.Status)
	}
	if len(specs) != 1 {
		t.Fatalf("%d runs, want 1", len(specs))
	}
	s := specs[0]
	want := backends.Limits{
		CPU:         1500 * time.Millisecond,
		Wall:        3500 * time.Millisecond,
		MemoryBytes: 65537*1024 + 16<<20,
		Processes:   4,
		OutputBytes: 64 << 10,
		FileBytes:   1 << 20,
		OpenFiles:   100,
		StackBytes:  8 << 20,
	}
	if s.Limits != want {
		t.Fatalf("limits\n got %+v\nwant %+v", s.Limits, want)
	}
	if strings.Join(s.Args, " ") != "/usr/bin/python3 -X heap=65 main.py" {
		t.Fatalf("args %q", s.Args)
	}
	if len(s.Env) != 1 || string(s.Stdin) != "hello" {
		t.Fatalf("env %q stdin %q", s.Env, s.Stdin)
	}

	specs = nil
	if _, err := runOne(t, capture, request("c", "print 1", "1"), lim); err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 {
		t.Fatalf("%d runs, want compile and run", len(specs))
	}
	c := specs[0].Limits
	if c.CPU != 5*time.Second || c.MemoryBytes != 300<<20 || c.Wall <= c.CPU || c.OutputBytes != plan.DefaultCompileOutputKiB<<10 || c.Processes < 32 {
		t.Fatalf("compile limits %+v", c)
	}
	if specs[1].Limits.Processes != 32 {
		t.Fatalf("run processes %d, want the operator's 32", specs[1].Limits.Processes)
	}
}

func TestRunJobBackendErrors(t *testing.T) {
	broken := func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		return backends.RunResult{}, fmt.Errorf("init died: %w", backends.ErrBroken)
	}
	resp, err := runOne(t, broken, request("py", "print 1", "1"), config.Limits{})
	if !isBroken(err) || resp.Code != int32(judge.InternalError) {
		t.Fatalf("got %v, code %d", err, resp.Code)
	}
	flaky := func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		return backends.RunResult{}, fake.ErrInjected
	}
	resp, err = runOne(t, flaky, request("py", "print 1", "1"), config.Limits{})
	if err == nil || isBroken(err) || resp.Code != int32(judge.InternalError) || resp.Error == "" {
		t.Fatalf("got %v, %+v", err, resp)
	}
	// A bad checker is the request's fault, not the sandbox's.
	req := request("py", "print 1", "1")
	req.Checker = "nonsense"
	resp, err = runOne(t, program, req, config.Limits{})
	if err != nil || resp.Code != int32(judge.InternalError) || !strings.Contains(resp.Error, "nonsense") {
		t.Fatalf("got %v, %+v", err, resp)
	}
}

// The checker judges everything the program wrote; the answer carries
// only response_output_kib of each stream, cut on a UTF-8 boundary, and
// says so.
func TestRunJobCutsWhatTheAnswerCarries(t *testing.T) {
	// "é" is two bytes: a 1 KiB cut of an odd prefix would split one.
	out := append([]byte("x"), bytes.Repeat([]byte("é"), 3000)...)
	errOut := bytes.Repeat([]byte{0xff}, 5000)
	loud := func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		return backends.RunResult{CPU: time.Millisecond, MemoryPeak: 1 << 20, Stdout: out, Stderr: errOut}, nil
	}
	lim := config.Default().Limits
	lim.ResponseOutputKiB = 1

	resp, err := runOne(t, loud, request("py", "loud", string(out)), lim)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != int32(judge.Accepted) {
		t.Fatalf("got %s: the checker must see the whole output", resp.Status)
	}
	if !resp.StdoutTruncated || !resp.StderrTruncated {
		t.Fatalf("truncation flags stdout=%v stderr=%v, want both", resp.StdoutTruncated, resp.StderrTruncated)
	}
	if len(resp.Stdout) != 1023 || !utf8.Valid(resp.Stdout) || !bytes.HasPrefix(out, resp.Stdout) {
		t.Errorf("stdout: %d bytes, valid UTF-8 %v; want the 1023-byte prefix ending before a split rune", len(resp.Stdout), utf8.Valid(resp.Stdout))
	}
	if len(resp.Stderr) != 1024 || !bytes.Equal(resp.Stderr, errOut[:1024]) {
		t.Errorf("stderr: %d bytes, want the first 1024 (not UTF-8, cut where it falls)", len(resp.Stderr))
	}
	// What a member hands back to the node that sent it the job is this
	// small answer, flags included.
	wire, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var back messages.ExecuteResponse
	if err := proto.Unmarshal(wire, &back); err != nil || !back.StdoutTruncated || !back.StderrTruncated || len(wire) > 2*1024+256 {
		t.Errorf("on the wire: %d bytes, flags %v %v (%v)", len(wire), back.StdoutTruncated, back.StderrTruncated, err)
	}

	// A wrong answer is found past the cut too.
	want := append(bytes.Clone(out[:len(out)-2]), "e"...)
	if resp, err = runOne(t, loud, request("py", "loud", string(want)), lim); err != nil || resp.Code != int32(judge.WrongAnswer) {
		t.Fatalf("difference past the cut: got %v, %v", resp.GetStatus(), err)
	}

	// Output within the cap is carried whole and not flagged; a limit left
	// at zero means the default.
	req := request("py", "stdin", "hello")
	req.Stdin = []byte("hello")
	resp, err = runOne(t, program, req, config.Limits{})
	if err != nil || string(resp.Stdout) != "hello" || resp.StdoutTruncated || resp.StderrTruncated {
		t.Fatalf("small output: %v, %+v", err, resp)
	}
	// A stream the kill limit stopped is flagged even when it fits.
	killed := func(ctx context.Context, sb *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		return backends.RunResult{OutputExceeded: true, Signal: 9, Stdout: bytes.Repeat([]byte("y"), int(spec.Limits.OutputBytes)), Stderr: []byte("e")}, nil
	}
	small := config.Default().Limits
	small.OutputKiB, small.ResponseOutputKiB = 1, 4
	resp, err = runOne(t, killed, request("py", "killed", ""), small)
	if err != nil || resp.Code != int32(judge.OutputLimitExceeded) || len(resp.Stdout) != 1024 || !resp.StdoutTruncated || resp.StderrTruncated {
		t.Fatalf("stopped at the kill limit: %v, %s, %d bytes, flags %v %v", err, resp.GetStatus(), len(resp.GetStdout()), resp.GetStdoutTruncated(), resp.GetStderrTruncated())
	}
	if got := responseOutputBytes(config.Limits{}); got != config.DefaultResponseOutputKiB<<10 {
		t.Errorf("zero limit keeps %d bytes, want the default", got)
	}
}

func TestUTF8Boundary(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want int
	}{
		{"abc", 2, 2},
		{"aé", 2, 1},        // inside é
		{"aé", 3, 3},        // past it
		{"a€b", 2, 1},       // after the first of three bytes
		{"a€b", 3, 1},       // after the second
		{"a€b", 4, 4},       // a whole rune before the cut
		{"a😀", 4, 1},        // four-byte rune, cut after its third byte
		{"a\x80\x80", 2, 2}, // stray continuation bytes: cut where asked
		{"\x80\x80\x80\x80\x80", 4, 4},
		{"é", 0, 0},
	} {
		if got := utf8Boundary([]byte(c.in), c.n); got != c.want {
			t.Errorf("utf8Boundary(%q, %d) = %d, want %d", c.in, c.n, got, c.want)
		}
	}
}

// TestWriteSources: code is written as the one file the language names,
// files as sent; the compile and run command lines name them.
func TestWriteSources(t *testing.T) {
	reg, err := languages.New(map[string]config.Language{
		"java": {
			Source:            "Main.java",
			SourceNamePattern: `public\s+class\s+(\w+)`,
			Compile:           []string{"javac", "{files}"},
			Run:               []string{"java", "{main}"},
		},
	}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	java, _ := reg.Lookup("java")
	var compiled, ran []string
	var seen map[string][]byte
	run := func(_ context.Context, _ *fake.Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error) {
		if spec.Args[0] == "javac" {
			compiled, seen = spec.Args, maps.Clone(files)
		} else {
			ran = spec.Args
		}
		return backends.RunResult{CPU: time.Millisecond, MemoryPeak: 1 << 20}, nil
	}
	for _, c := range []struct {
		name          string
		req           *messages.ExecuteRequest
		files         map[string]string
		compiled, ran []string
	}{
		{"code named after its public class",
			&messages.ExecuteRequest{Code: []byte("public class Solution {}")},
			map[string]string{"Solution.java": "public class Solution {}"},
			[]string{"javac", "Solution.java"}, []string{"java", "Solution.java"}},
		{"files as sent",
			&messages.ExecuteRequest{Code: []byte("unused"), Files: []*messages.SourceFile{
				{Name: "p/B.java", Content: []byte("b")}, {Name: "p/A.java", Content: []byte("a")}, {Name: "in.txt"}}},
			map[string]string{"p/B.java": "b", "p/A.java": "a", "in.txt": ""},
			[]string{"javac", "p/A.java", "p/B.java"}, []string{"java", "p/B.java"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.req.Limits = &messages.Limits{CpuSeconds: 1, WallSeconds: 3, MemoryKib: 65536}
			sb, err := fake.New(run).New(context.Background(), "t-0")
			if err != nil {
				t.Fatal(err)
			}
			resp, err := RunJob(context.Background(), sb, java, c.req, JobConfig{Limits: config.Default().Limits})
			if err != nil || resp.Status != judge.Accepted.String() {
				t.Fatalf("RunJob = %+v, %v", resp, err)
			}
			if len(seen) != len(c.files) {
				t.Errorf("sandbox holds %d files, want %v", len(seen), c.files)
			}
			for name, content := range c.files {
				if got, ok := seen[name]; !ok || string(got) != content {
					t.Errorf("file %s = %q (%v), want %q", name, got, ok, content)
				}
			}
			if !slices.Equal(compiled, c.compiled) || !slices.Equal(ran, c.ran) {
				t.Errorf("compiled %q and ran %q, want %q and %q", compiled, ran, c.compiled, c.ran)
			}
		})
	}
}
