package http

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// filesBody is a judge-single body for language with these files (each
// a JSON object, already encoded).
func filesBody(language string, files ...string) string {
	return fmt.Sprintf(`{"language":%q,"files":[%s]}`, language, strings.Join(files, ","))
}

func file(name, content string) string {
	b, _ := json.Marshal(map[string]string{"name": name, "content": content})
	return string(b)
}

func TestJudgeSingleFiles(t *testing.T) {
	fj := &fakeJudge{}
	app := newTestApp(t, fj)
	bin := []byte{0xff, 0x00, 'x'}
	body := filesBody("python",
		file("__main__.py", "import lib\n"),
		`{"name":"lib.py","content":"X = 1\n","encoding":"utf8"}`,
		fmt.Sprintf(`{"name":"data/blob.bin","content":%q,"encoding":"base64"}`, base64.StdEncoding.EncodeToString(bin)),
		file("empty.py", ""),
	)
	resp, b := do(t, app, postJSON(body))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	req := fj.lastRequest()
	if len(req.Code) != 0 || len(req.Files) != 4 {
		t.Fatalf("request code %q, %d files; want no code and 4 files", req.Code, len(req.Files))
	}
	for i, want := range []struct{ name, content string }{
		{"__main__.py", "import lib\n"}, {"lib.py", "X = 1\n"}, {"data/blob.bin", string(bin)}, {"empty.py", ""},
	} {
		if f := req.Files[i]; f.Name != want.name || string(f.Content) != want.content {
			t.Errorf("files[%d] = %q %q, want %q %q", i, f.Name, f.Content, want.name, want.content)
		}
	}
	// A client that always sends "code" may send it empty beside files.
	resp, b = do(t, app, postJSON(`{"language":"py","code":"","files":[`+file("a.py", "print(1)")+`]}`))
	if resp.StatusCode != 200 || len(fj.lastRequest().Files) != 1 {
		t.Errorf("empty code beside files: status %d: %s", resp.StatusCode, b)
	}
}

func TestJudgeSingleFilesValidation(t *testing.T) {
	many := make([]string, 65)
	for i := range many {
		many[i] = file(fmt.Sprintf("f%d.py", i), "")
	}
	big := strings.Repeat("a", 1100)
	cases := []struct {
		name, body string
		parts      []string
	}{
		{"code and files", `{"language":"py","code":"x","files":[` + file("a.py", "") + `]}`, []string{`"code"`, `"files"`, "one"}},
		{"neither", `{"language":"py"}`, []string{`"code"`, `"files"`, "required"}},
		{"files not an array", `{"language":"py","files":{"a.py":"x"}}`, []string{`"files"`, "array", "an object"}},
		{"files empty", `{"language":"py","files":[]}`, []string{`"files"`, "empty"}},
		{"entry not an object", filesBody("py", `"a.py"`), []string{`"files[0]"`, "object", "a string"}},
		{"entry null", filesBody("py", `null`), []string{`"files[0]"`, "object", "null"}},
		{"no name", filesBody("py", `{"content":"x"}`), []string{`"files[0].name"`, "required"}},
		{"name not a string", filesBody("py", `{"name":1,"content":"x"}`), []string{`"files[0].name"`, "string"}},
		{"no content", filesBody("py", file("a.py", ""), `{"name":"b.py"}`), []string{`"files[1].content"`, "required"}},
		{"unknown key", filesBody("py", `{"name":"a.py","contents":"x"}`), []string{`"files[0]"`, `"contents"`}},
		{"bad encoding", filesBody("py", `{"name":"a.py","content":"x","encoding":"hex"}`), []string{`"files[0].encoding"`, "utf8", "base64", "hex"}},
		{"bad base64", filesBody("py", `{"name":"a.py","content":"!!!","encoding":"base64"}`), []string{`"files[0].content"`, "base64"}},
		{"absolute", filesBody("py", file("/etc/a.py", "")), []string{`"files"`, `"/etc/a.py"`, "relative"}},
		{"dot dot", filesBody("py", file("a.py", ""), file("../b.py", "")), []string{`files[1]`, `"../b.py"`, `".."`}},
		{"unclean", filesBody("py", file("a//b.py", "")), []string{`"a//b.py"`, "clean", `"a/b.py"`}},
		{"dot part", filesBody("py", file("./a.py", "")), []string{`"./a.py"`, "clean"}},
		{"empty name", filesBody("py", file("", "")), []string{"files[0]", "empty"}},
		{"option-like", filesBody("py", file("-c.py", "")), []string{`"-c.py"`, "-"}},
		{"duplicate", filesBody("py", file("a.py", ""), file("a.py", "")), []string{`"a.py"`, "files[0]", "files[1]"}},
		{"file and directory", filesBody("py", file("a", ""), file("a/b.py", "")), []string{`"a/b.py"`, `"a"`}},
		{"too many", filesBody("py", many...), []string{`"files"`, "65 files", "limit of 64"}},
		{"too large in all", filesBody("py", file("a.py", big), file("b.py", big)), []string{`"files"`, "2200 bytes", "2 KiB"}},
		{"no source of the language", filesBody("cpp", file("main.c", "int main;"), file("x.h", "")), []string{`"files"`, "C++", ".cpp"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fj := &fakeJudge{}
			app := newTestApp(t, fj)
			resp, body := do(t, app, postJSON(tc.body))
			wantError(t, resp, body, 400, tc.parts...)
			if fj.lastRequest() != nil {
				t.Error("an invalid request reached the judge")
			}
		})
	}
}
