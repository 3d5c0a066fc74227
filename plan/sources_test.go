package plan

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
)

// shipped is the registry of the shipped pecan.toml, so that these tests
// check the command lines users get.
func shipped(t *testing.T) *languages.Registry {
	t.Helper()
	cfg, err := config.Load("../pecan.toml")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := languages.New(cfg.Languages, nil, "/state")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func files(names ...string) []*messages.SourceFile {
	out := make([]*messages.SourceFile, len(names))
	for i, n := range names {
		out[i] = &messages.SourceFile{Name: n, Content: []byte("x")}
	}
	return out
}

// contains reports whether args holds want as a contiguous run.
func contains(args, want []string) bool {
	for i := 0; i+len(want) <= len(args); i++ {
		if reflect.DeepEqual(args[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

func TestSourceFilesOfCode(t *testing.T) {
	reg := shipped(t)
	for _, c := range []struct{ lang, code, want string }{
		{"c", "int main(void) { return 0; }", "main.c"},
		{"python", "print(1)", "main.py"},
		{"java", "import java.util.*;\n\npublic class Solution {\n  public static void main(String[] a) {}\n}\n", "Solution.java"},
		{"java", "package a.b;\npublic final class Solver { }\n", "Solver.java"},
		{"java", "public class Main { public static void main(String[] a) {} }", "Main.java"},
		{"java", "class Hidden { public static void main(String[] a) {} }", "Main.java"},
		{"java", "// public class InAComment\nclass X {}", "Main.java"},
		{"kotlin", "fun main() {}", "main.kt"},
	} {
		l, _ := reg.Lookup(c.lang)
		got := SourceFiles(l, &messages.ExecuteRequest{Code: []byte(c.code)})
		if len(got) != 1 || got[0].Name != c.want || string(got[0].Content) != c.code {
			t.Errorf("%s %q: files %v, want one named %s", c.lang, c.code, got, c.want)
		}
	}
	// Files, when sent, are written as they are, in their order.
	py, _ := reg.Lookup("python")
	fs := files("b.py", "a/c.py")
	if got := SourceFiles(py, &messages.ExecuteRequest{Code: []byte("ignored"), Files: fs}); !reflect.DeepEqual(got, fs) {
		t.Errorf("SourceFiles = %v, want the request's files", got)
	}
}

// The shipped languages' command lines: what each compiles and runs.
func TestShippedCommandLines(t *testing.T) {
	reg := shipped(t)
	lim := config.Default().Limits
	type want struct{ compile, run []string }
	for _, c := range []struct {
		lang  string
		files []string
		want  want
	}{
		{"c", []string{"util.h", "util.c", "main.c", "notes.txt"},
			want{compile: []string{"-o", "main", "main.c", "util.c", "-lm"}, run: []string{"./main"}}},
		{"cpp", []string{"z.cpp", "lib/a.cc", "lib/a.h", "b.cxx"},
			want{compile: []string{"-o", "main", "b.cxx", "lib/a.cc", "z.cpp", "-lm"}}},
		{"python", []string{"lib.py", "__main__.py"}, want{compile: []string{"__main__.py", "lib.py"}, run: []string{"/usr/bin/python3", "__main__.py"}}},
		{"python", []string{"data.txt", "solve.py", "lib.py"}, want{run: []string{"/usr/bin/python3", "solve.py"}}},
		{"node", []string{"lib.js", "index.js"}, want{compile: []string{"index.js", "lib.js"}, run: []string{"--stack-size=65500", "index.js"}}},
		{"node", []string{"lib.js", "index.js", "main.js"}, want{run: []string{"--stack-size=65500", "main.js"}}},
		{"node", []string{"lib.mjs", "app.mjs"}, want{run: []string{"--stack-size=65500", "lib.mjs"}}},
		{"go", []string{"b.go", "a.go", "go.mod"}, want{compile: []string{"sh", "a.go", "b.go"}, run: []string{"./main"}}},
		{"rust", []string{"util.rs", "main.rs"}, want{compile: []string{"-o", "main", "main.rs"}}},
		{"rust", []string{"solve.rs", "util.rs"}, want{compile: []string{"-o", "main", "solve.rs"}}},
		{"typescript", []string{"lib.ts", "src/main.ts"}, want{compile: []string{"lib.ts", "src/main.ts"}, run: []string{"--stack-size=65500", "lib.js"}}},
		{"typescript", []string{"lib.ts", "main.ts"}, want{run: []string{"--stack-size=65500", "main.js"}}},
		{"java", []string{"app/App.java", "app/Util.java"}, want{compile: []string{"PecanFindMain", "-d", ".", "app/App.java", "app/Util.java"}, run: []string{"-cp", ".", "@.main-class"}}},
		{"kotlin", []string{"b.kt", "a.kt"}, want{compile: []string{"sh", "a.kt", "b.kt"}}},
	} {
		l, ok := reg.Lookup(c.lang)
		if !ok {
			t.Fatalf("no language %s", c.lang)
		}
		req := &messages.ExecuteRequest{Files: files(c.files...), Limits: &messages.Limits{CpuSeconds: 1, MemoryKib: 65536}}
		if c.want.compile != nil {
			if args := Compile(l, req, lim).Args; !contains(args, c.want.compile) {
				t.Errorf("%s %v: compile %q does not hold %q", c.lang, c.files, args, c.want.compile)
			}
		}
		if c.want.run != nil {
			if args := Run(l, req, lim).Args; !contains(args, c.want.run) || args[len(args)-1] != c.want.run[len(c.want.run)-1] {
				t.Errorf("%s %v: run %q does not end with %q", c.lang, c.files, args, c.want.run)
			}
		}
	}
}

// judge-single's code keeps the command lines it had: one file, named as
// the language's source.
func TestSingleFileCommandLines(t *testing.T) {
	reg := shipped(t)
	lim := config.Default().Limits
	req := &messages.ExecuteRequest{Code: []byte("x"), Limits: &messages.Limits{CpuSeconds: 1, MemoryKib: 65536}}
	for id, want := range map[string][]string{"c": {"-o", "main", "main.c", "-lm"}, "rust": {"-o", "main", "main.rs"}, "typescript": {".", "main.ts"}} {
		l, _ := reg.Lookup(id)
		if args := Compile(l, req, lim).Args; !contains(args, want) {
			t.Errorf("%s: compile %q does not hold %q", id, args, want)
		}
	}
	py, _ := reg.Lookup("python")
	if got := Run(py, req, lim).Args; !reflect.DeepEqual(got, []string{"/usr/bin/python3", "main.py"}) {
		t.Errorf("python run = %q", got)
	}
}

func TestCheckFileName(t *testing.T) {
	for _, ok := range []string{"main.c", "src/a/b.java", "__main__.py", ".hidden.py", "名前.py", "a-b.c", "a b.c"} {
		if err := CheckFileName(ok); err != nil {
			t.Errorf("CheckFileName(%q) = %v", ok, err)
		}
	}
	for name, why := range map[string]string{
		"":                              "empty",
		"/etc/passwd":                   "relative",
		"../x.c":                        `".."`,
		"a/../../x.c":                   `".."`,
		"a/..":                          `".."`,
		"./a.c":                         `"." parts`,
		"a//b.c":                        "empty",
		"a/":                            "empty",
		".":                             `"."`,
		"-o.c":                          "starting with -",
		"src/--help.c":                  "starting with -",
		"a\\b.c":                        `"/"`,
		"a\nb.c":                        "control",
		"a\x00b.c":                      "control",
		"\xff.c":                        "UTF-8",
		strings.Repeat("a", 256) + ".c": "part of",
		strings.Repeat("a/", 600):       "bytes long",
	} {
		if err := CheckFileName(name); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("CheckFileName(%q) = %v, want an error saying %q", name, err, why)
		}
	}
}

func TestCheckFiles(t *testing.T) {
	if err := CheckFiles(files("a.c", "lib/b.c", "lib/b.h"), 3, 1); err != nil {
		t.Errorf("valid files refused: %v", err)
	}
	big := []*messages.SourceFile{{Name: "a.c", Content: make([]byte, 1024)}, {Name: "b.c", Content: []byte("x")}}
	for why, c := range map[string]struct {
		files []*messages.SourceFile
		max   int
	}{
		"no files":                                   {nil, 3},
		"4 files, over the limit":                    {files("a", "b", "c", "d"), 3},
		`files[1]: name "../b"`:                      {files("a", "../b"), 3},
		"is also the name of files[0]":               {files("a.c", "a.c"), 3},
		`"a/b.c" is inside "a"`:                      {files("a", "a/b.c"), 3},
		`"a/b/c.c" is inside "a/b"`:                  {files("a/b/c.c", "a/b"), 3},
		"1025 bytes in all, over the limit of 1 KiB": {big, 3},
	} {
		if err := CheckFiles(c.files, c.max, 1); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%s: CheckFiles = %v", why, err)
		}
	}
}
