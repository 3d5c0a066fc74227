package piston

import (
	"strings"
	"testing"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
)

func testRegistry(t *testing.T) *languages.Registry {
	t.Helper()
	reg, err := languages.New(map[string]config.Language{
		"python": {Name: "Python 3", Aliases: []string{"py"}, Source: "main.py", Run: []string{"/usr/bin/python3", "main.py"}},
		"cpp":    {Name: "C++", Source: "main.cpp", Compile: []string{"/usr/bin/g++", "main.cpp"}, Run: []string{"./a.out"}},
	}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	py, _ := reg.Lookup("python")
	py.Available, py.ToolVersion = true, "Python 3.11.2"
	cpp, _ := reg.Lookup("cpp")
	cpp.Available, cpp.ToolVersion = true, "12.2.0"
	return reg
}

func TestRuntimes(t *testing.T) {
	rs := runtimes(testRegistry(t))
	if len(rs) != 2 || rs[0].Language != "c++" || rs[0].Version != "12.2.0" || rs[0].Runtime != "gcc" ||
		rs[1].Language != "python" || rs[1].Version != "3.11.2" || rs[1].Aliases == nil {
		t.Errorf("runtimes %+v", rs)
	}
	if r, ok := findRuntime(testRegistry(t), "cpp", "12.x"); !ok || r.Language != "c++" {
		t.Errorf("alias cpp, 12.x: %+v %v", r, ok)
	}
	if _, ok := findRuntime(testRegistry(t), "python", "3.12"); ok {
		t.Error("python 3.12 found on a 3.11.2 runtime")
	}
}

func TestParseRequest(t *testing.T) {
	reg, lim := testRegistry(t), config.Default().Limits
	clientDefaults := `"compile_timeout":10000,"run_timeout":3000,"compile_memory_limit":-1,"run_memory_limit":-1,"args":["1","2","3"]`
	r, err := parseRequest([]byte(`{"language":"python","version":"*","files":[{"content":"print(1)"}],`+clientDefaults+`}`), reg, lim)
	if err != nil {
		t.Fatalf("piston-client's defaults refused: %v", err)
	}
	n := r.native()
	if n.Code != "print(1)" || n.Language != "python" || *n.WallTimeLimit != 3 || n.MemoryLimit != nil || n.TimeLimit != nil || n.Checker != "any" {
		t.Errorf("native request %+v", n)
	}
	r, err = parseRequest([]byte(`{"language":"c++","version":"12","run_memory_limit":1000000,"run_cpu_time":1500,"files":[{"name":"main.cpp","content":"aW50IG1haW4oKXt9","encoding":"base64"},{"content":"2f2f","encoding":"hex"}]}`), reg, lim)
	if err != nil {
		t.Fatal(err)
	}
	n = r.native()
	if len(n.Files) != 2 || n.Files[0].Name != "main.cpp" || n.Files[1].Name != "file1.code" || *n.MemoryLimit != 977 || *n.TimeLimit != 1.5 {
		t.Errorf("files and limits %+v", n)
	}
	for body, want := range map[string]string{
		`{}`:                                  "language is required as a string",
		`{"language":"python"}`:               "version is required as a string",
		`{"language":"python","version":"*"}`: "files is required as an array",
		`{"language":"python","version":"*","files":[{}]}`:                               "files[0].content is required as a string",
		`{"language":"cobol","version":"*","files":[{"content":""}]}`:                    "cobol-* runtime is unknown",
		`{"language":"python","version":"*","files":[{"content":""}],"run_timeout":"x"}`: "run_timeout must be a number",
		`{"language":"python","version":"*","files":[{"content":""}],"run_timeout":-5}`:  "run_timeout must be non-negative",
		`{"language":"python","version":"*","files":[{"content":""}],"run_timeout":1e9}`: "run_timeout cannot exceed the configured limit of 90000",
	} {
		if _, err := parseRequest([]byte(body), reg, lim); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

func TestAnswer(t *testing.T) {
	reg := testRegistry(t)
	cpp, _ := findRuntime(reg, "c++", "*")
	py, _ := findRuntime(reg, "python", "*")

	ce := answer(cpp, &messages.ExecuteResponse{Code: 2, CompileOutput: "error: x"})
	if ce.Compile == nil || ce.Compile.Output != "error: x" || *ce.Compile.Code != 1 || ce.Run.Output != "error: x" {
		t.Errorf("compile error: %+v", ce)
	}
	ok := answer(py, &messages.ExecuteResponse{Code: 0, Stdout: []byte("a"), Stderr: []byte("b"), Time: 0.01, MemoryKib: 2})
	if ok.Run.Output != "ab" || *ok.Run.Code != 0 || ok.Run.Status != nil || ok.Run.Signal != nil || ok.Run.Memory != 2048 || ok.Run.CPUTime != 10 {
		t.Errorf("run: %+v", ok.Run)
	}
	seg := answer(py, &messages.ExecuteResponse{Code: 3, Signal: 11}).Run
	if seg.Code != nil || *seg.Signal != "SIGSEGV" || *seg.Status != "SG" {
		t.Errorf("signalled: %+v", seg)
	}
	re := answer(py, &messages.ExecuteResponse{Code: 3, ExitCode: 2}).Run
	if *re.Code != 2 || *re.Status != "RE" {
		t.Errorf("non-zero exit: %+v", re)
	}
	to := answer(py, &messages.ExecuteResponse{Code: 4}).Run
	if *to.Status != "TO" || *to.Signal != "SIGKILL" || to.Code != nil {
		t.Errorf("timeout: %+v", to)
	}
	if el := answer(py, &messages.ExecuteResponse{Code: 7, StderrTruncated: true}).Run; *el.Status != "EL" {
		t.Errorf("stderr limit: %+v", el)
	}
	if xx := answer(py, &messages.ExecuteResponse{Code: 6, Error: "boom"}).Run; *xx.Status != "XX" || !strings.Contains(*xx.Message, "boom") {
		t.Errorf("internal: %+v", xx)
	}
}
