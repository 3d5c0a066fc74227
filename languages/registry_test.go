package languages

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pecan-judge/pecan/config"
)

func TestLookupAndNames(t *testing.T) {
	r, err := New(map[string]config.Language{
		"python": {Aliases: []string{"py", "Python3"}, Source: "main.py", Run: []string{"python3", "main.py"}, Env: []string{"A=1"}},
		"c":      {Source: "main.c", Compile: []string{"gcc", "main.c"}, Run: []string{"./main"}},
	}, []string{"PATH=/usr/bin"}, "/state")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"python", "PY", " python3 "} {
		if l, ok := r.Lookup(name); !ok || l.ID != "python" {
			t.Errorf("Lookup(%q) = %v, %v", name, l, ok)
		}
	}
	if _, ok := r.Lookup("cobol"); ok {
		t.Error("unknown language found")
	}
	if got, want := r.Names(), []string{"c", "py", "python", "python3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	py, _ := r.Lookup("python")
	if !reflect.DeepEqual(py.Env, []string{"PATH=/usr/bin", "A=1"}) {
		t.Errorf("env = %v", py.Env)
	}
	if c, _ := r.Lookup("c"); !c.Compiled() || py.Compiled() {
		t.Error("Compiled() wrong")
	}
}

func TestDuplicateNames(t *testing.T) {
	_, err := New(map[string]config.Language{
		"a": {Aliases: []string{"x"}, Source: "a", Run: []string{"a"}},
		"b": {Aliases: []string{"X"}, Source: "b", Run: []string{"b"}},
	}, nil, "")
	if err == nil {
		t.Fatal("duplicate alias accepted")
	}
}

func TestExpand(t *testing.T) {
	r, _ := New(map[string]config.Language{"java": {Source: "Main.java", Run: []string{"java", "-Xmx{memory_mib}m", "-cp", "{state}", "{source}"}}}, nil, "/st")
	l, _ := r.Lookup("java")
	got := l.Expand(l.Run, Vars{MemoryMiB: 64})
	if want := []string{"java", "-Xmx64m", "-cp", "/st/java", "Main.java"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Expand = %v, want %v", got, want)
	}
}

func TestVersionLineSkipsRuntimeNotices(t *testing.T) {
	for _, c := range []struct{ out, want string }{
		{"gcc 12.2.0\n", "gcc 12.2.0"},
		{"OpenJDK 64-Bit Server VM warning: Options -Xverify:none and -noverify were deprecated\ninfo: kotlinc-jvm 1.3.31 (JRE 17.0.15+6)\n", "info: kotlinc-jvm 1.3.31 (JRE 17.0.15+6)"},
		{"Picked up JAVA_TOOL_OPTIONS: -Xss8m\n\nopenjdk version \"17.0.15\"\n", "openjdk version \"17.0.15\""},
		{"\n\n", ""},
	} {
		if got := versionLine(c.out); got != c.want {
			t.Errorf("versionLine(%q) = %q, want %q", c.out, got, c.want)
		}
	}
}

func TestExpandSources(t *testing.T) {
	r, err := New(map[string]config.Language{"x": {
		Source:  "main.ts",
		Compile: []string{"tsc", "--outDir", ".", "{files}", "--main={main}"},
		Run:     []string{"node", "{main_noext}.js"},
	}}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	l, _ := r.Lookup("x")
	v := Vars{Files: []string{"a.ts", "src/app.ts"}, Main: "src/app.ts"}
	if got, want := l.Expand(l.Compile, v), []string{"tsc", "--outDir", ".", "a.ts", "src/app.ts", "--main=src/app.ts"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Expand(compile) = %q, want %q", got, want)
	}
	if got, want := l.Expand(l.Run, v), []string{"node", "src/app.js"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Expand(run) = %q, want %q", got, want)
	}
	// No files: {files} stands for no argument at all, not an empty one.
	if got, want := l.Expand(l.Compile, Vars{}), []string{"tsc", "--outDir", ".", "--main="}; !reflect.DeepEqual(got, want) {
		t.Errorf("Expand without files = %q, want %q", got, want)
	}
}

func TestSources(t *testing.T) {
	r, err := New(map[string]config.Language{
		"py":  {Name: "Python 3", Source: "main.py", Main: []string{"__main__.py"}, Run: []string{"python3", "{main}"}},
		"cpp": {Name: "C++", Source: "main.cpp", Extensions: []string{".cpp", ".cc"}, Run: []string{"./main"}},
	}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	py, _ := r.Lookup("py")
	cpp, _ := r.Lookup("cpp")
	for _, c := range []struct {
		l           *Language
		names       []string
		files       []string
		main, error string
	}{
		{l: py, names: []string{"b.py", "a.py"}, files: []string{"a.py", "b.py"}, main: "b.py"},
		{l: py, names: []string{"b.py", "__main__.py", "data.txt"}, files: []string{"__main__.py", "b.py"}, main: "__main__.py"},
		// A __main__.py in a package is not the program's.
		{l: py, names: []string{"pkg/__main__.py", "run.py"}, files: []string{"pkg/__main__.py", "run.py"}, main: "pkg/__main__.py"},
		{l: py, names: []string{"notes.txt", "solve.py"}, files: []string{"solve.py"}, main: "solve.py"},
		{l: py, names: []string{"notes.txt", ".py", "d/.py"}, error: "no Python 3 source file (.py) among them"},
		{l: cpp, names: []string{"x.h", "z.cc", "a.cpp", "b.c"}, files: []string{"a.cpp", "z.cc"}, main: "z.cc"},
		{l: cpp, names: []string{"x.h"}, error: "(.cpp, .cc)"},
	} {
		files, main, err := c.l.Sources(c.names)
		if c.error != "" {
			if err == nil || !strings.Contains(err.Error(), c.error) {
				t.Errorf("%s Sources(%q) error = %v, want %q", c.l.ID, c.names, err, c.error)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(files, c.files) || main != c.main {
			t.Errorf("%s Sources(%q) = %q, %q, %v; want %q, %q", c.l.ID, c.names, files, main, err, c.files, c.main)
		}
	}
}

func TestSourceName(t *testing.T) {
	r, err := New(map[string]config.Language{
		"java": {Source: "Main.java", SourceNamePattern: `(?m)^\s*public\s+(?:final\s+)?class\s+(\S+)`, Run: []string{"java"}},
		"c":    {Source: "main.c", Run: []string{"./main"}},
	}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	java, _ := r.Lookup("java")
	c, _ := r.Lookup("c")
	for code, want := range map[string]string{
		"public class Solution {}":                "Solution.java",
		"package p;\n\npublic final class A {}\n": "A.java",
		"class Main {}":                           "Main.java",
		// What the pattern finds must be a plain file name.
		"public class ../../x {}": "Main.java",
		"public class -rf {}":     "Main.java",
	} {
		if got := java.SourceName([]byte(code)); got != want {
			t.Errorf("SourceName(%q) = %q, want %q", code, got, want)
		}
	}
	if got := c.SourceName([]byte("public class X")); got != "main.c" {
		t.Errorf("SourceName without a pattern = %q, want main.c", got)
	}
	if _, err := New(map[string]config.Language{"j": {Source: "M.java", SourceNamePattern: "class", Run: []string{"j"}}}, nil, ""); err == nil {
		t.Error("a source_name_pattern without a group accepted")
	}
}
