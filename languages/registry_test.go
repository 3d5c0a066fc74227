package languages

import (
	"reflect"
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
