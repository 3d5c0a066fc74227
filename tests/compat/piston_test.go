package compat

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pistonClient is the npm package the test installs, at this version.
const pistonClient = "piston-client@1.0.2"

// pistonScript runs each case of argv[3] (JSON) through piston-client
// against argv[2], with the client's default options plus the case's, and
// prints the runtimes and every result as JSON.
const pistonScript = `
import piston from 'piston-client';
const [server, casesJSON] = process.argv.slice(2);
const client = piston({ server });
const out = { runtimes: await client.runtimes(), results: {} };
for (const c of JSON.parse(casesJSON)) {
  out.results[c.name] = c.options
    ? await client.execute(c.language, c.code, c.options)
    : await client.execute(c.language, c.code);
}
console.log(JSON.stringify(out));
`

type pistonCase struct {
	Name     string         `json:"name"`
	Language string         `json:"language"`
	Code     string         `json:"code"`
	Options  map[string]any `json:"options,omitempty"`
}

type pistonStage struct {
	Stdout string  `json:"stdout"`
	Stderr string  `json:"stderr"`
	Output string  `json:"output"`
	Code   *int    `json:"code"`
	Signal *string `json:"signal"`
	Status *string `json:"status"`
}

type pistonResult struct {
	Language string       `json:"language"`
	Version  string       `json:"version"`
	Run      pistonStage  `json:"run"`
	Compile  *pistonStage `json:"compile"`
	Message  string       `json:"message"`
}

// installPistonClient installs the pinned client into a temporary
// directory with npm and writes the script beside it.
func installPistonClient(t *testing.T) (dir string) {
	t.Helper()
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm not found (make deps installs Node with npm): %v", err)
	}
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"pecan-compat-test","private":true,"type":"module"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--save-exact", pistonClient)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install %s: %v\n%s", pistonClient, err, out)
	}
	var pkg struct{ Version string }
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "piston-client", "package.json"))
	if err != nil || json.Unmarshal(b, &pkg) != nil || pkg.Version != "1.0.2" {
		t.Fatalf("installed piston-client: version %q (%v), want 1.0.2", pkg.Version, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run.mjs"), []byte(pistonScript), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runPistonClient(t *testing.T, dir, server string, cases []pistonCase) (runtimes []map[string]any, results map[string]pistonResult) {
	t.Helper()
	casesJSON, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "run.mjs", server, string(casesJSON))
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node run.mjs: %v\n%s", err, out)
	}
	var got struct {
		Runtimes []map[string]any        `json:"runtimes"`
		Results  map[string]pistonResult `json:"results"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("script output: %v\n%s", err, out)
	}
	return got.Runtimes, got.Results
}

// The real piston-client, with its default options (it sends its JSON
// as text/plain, args ["1","2","3"], run_timeout 3000 and memory limits
// of -1), runs Python, C++, Java and JavaScript and reads their stdout,
// exit code and a compile error's output.
func TestPistonClient(t *testing.T) {
	start(t)
	dir := installPistonClient(t)
	cases := []pistonCase{
		{Name: "python", Language: "python", Code: "a, b = map(int, input().split())\nprint(a + b)\n", Options: map[string]any{"stdin": "20 22\n"}},
		{Name: "cpp", Language: "c++", Code: "#include <iostream>\nint main() { std::cout << \"hello from c++\" << std::endl; return 0; }\n"},
		{Name: "java", Language: "java", Code: "public class Main {\n  public static void main(String[] args) {\n    System.out.println(\"hello from java\");\n  }\n}\n"},
		{Name: "javascript", Language: "javascript", Code: "console.log('hello from js'); process.exit(3);\n"},
		{Name: "cpp-compile-error", Language: "c++", Code: "int main() { return undeclared_name; }\n"},
		{Name: "unknown", Language: "cobol", Code: "x"},
	}
	runtimes, res := runPistonClient(t, dir, shared.URL(), cases)

	names := map[string]bool{}
	for _, r := range runtimes {
		names[r["language"].(string)] = true
		if _, ok := r["aliases"].([]any); !ok {
			t.Errorf("runtime %v has no aliases array", r)
		}
	}
	for _, want := range []string{"python", "c++", "java", "javascript"} {
		if !names[want] {
			t.Errorf("runtimes lack %q: %v", want, runtimes)
		}
	}

	for name, want := range map[string]struct {
		stdout string
		code   int
	}{
		"python":     {"42\n", 0},
		"cpp":        {"hello from c++\n", 0},
		"java":       {"hello from java\n", 0},
		"javascript": {"hello from js\n", 3},
	} {
		r := res[name]
		if r.Run.Stdout != want.stdout || r.Run.Code == nil || *r.Run.Code != want.code {
			t.Errorf("%s: run %+v (message %q), want stdout %q and code %d", name, r.Run, r.Message, want.stdout, want.code)
		}
		if r.Version == "" || r.Language == "" {
			t.Errorf("%s: language %q version %q", name, r.Language, r.Version)
		}
	}
	ce := res["cpp-compile-error"]
	if ce.Compile == nil || !strings.Contains(ce.Compile.Output, "undeclared_name") || ce.Compile.Code == nil || *ce.Compile.Code == 0 {
		t.Errorf("compile error: compile stage %+v", ce.Compile)
	}
	if !strings.Contains(ce.Run.Output, "undeclared_name") {
		t.Errorf("compile error: run stage %+v, want a copy of the compile stage", ce.Run)
	}
	// piston-client finds no version of an unknown language and sends
	// none: the server's message comes back as the result.
	if m := res["unknown"].Message; m != "version is required as a string" {
		t.Errorf("unknown language: message %q", m)
	}
}

// Piston's transport quirks: a trailing slash, the /api/v2/piston prefix,
// a text/plain body, semver ranges and {"message"} errors.
func TestPistonTransport(t *testing.T) {
	start(t)
	body := `{"language":"py","version":"3.x","files":[{"name":"main.py","content":"cHJpbnQoJ2InKQ==","encoding":"base64"}]}`
	for _, path := range []string{"/api/v2/execute/", "/api/v2/piston/execute", "/API/V2/EXECUTE"} {
		code, got := post(t, shared.URL()+path, "text/plain;charset=UTF-8", body, nil)
		var r pistonResult
		if code != 200 || json.Unmarshal(got, &r) != nil || r.Run.Stdout != "b\n" || r.Language != "python" {
			t.Errorf("%s: %d %s", path, code, got)
		}
	}
	for path, want := range map[string]int{"/api/v2/runtimes/": 200, "/api/v2/piston/runtimes": 200, "/api/v2/nothing": 404} {
		code, got := get(t, shared.URL()+path, nil)
		if code != want || (code == 404 && !strings.Contains(string(got), `"message"`)) {
			t.Errorf("GET %s: %d %s, want %d", path, code, got, want)
		}
	}
	code, got := post(t, shared.URL()+"/api/v2/execute", "", `{"language":"python","version":"9.x","files":[{"content":"print(1)"}]}`, nil)
	if code != 400 || string(got) != `{"message":"python-9.x runtime is unknown"}` {
		t.Errorf("no matching version: %d %s", code, got)
	}
	code, got = post(t, shared.URL()+"/api/v2/execute", "", `{"language":"python","version":"*","files":[{"content":"while True: pass"}],"run_cpu_time":500}`, nil)
	var r pistonResult
	if code != 200 || json.Unmarshal(got, &r) != nil || r.Run.Status == nil || *r.Run.Status != "TO" || r.Run.Signal == nil || *r.Run.Signal != "SIGKILL" {
		t.Errorf("time limit: %d %s", code, got)
	}
}
