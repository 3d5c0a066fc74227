package problems

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/pecan-judge/pecan/blob"
)

// legacyPackage is a legacy-format package with a testlib checker, groups
// and settings files at several levels.
func legacyPackage() []entry {
	return files(
		"problem.yaml", `name: Sum of Two
validation: custom
validator_flags: float_tolerance 1e-6 case_sensitive
validator_protocol: testlib
limits:
  memory: 512
  output: 16
  time_multiplier: 3
  compilation_time: 30
  validation_time: 5
  validation_memory: 1024
`,
		".timelimit", "1.5\n",
		"data/testdata.yaml", "on_reject: continue\n",
		"data/sample/1.in", "1 2\n",
		"data/sample/1.ans", "3\n",
		"data/secret/b.in", "5 5\n",
		"data/secret/b.ans", "10\n",
		"data/secret/a.in", "2 2\n",
		"data/secret/a.ans", "4\n",
		"data/secret/g1/testdata.yaml", "accept_score: 40\nrange: 0 40\n",
		"data/secret/g1/02.in", "1 1\n",
		"data/secret/g1/02.ans", "2\n",
		"data/secret/g1/01.in", "0 0\n",
		"data/secret/g1/01.ans", "0\n",
		"data/secret/g1/01.desc", "the smallest case\n",
		"data/secret/g1/deep/x.in", "7 1\n",
		"data/secret/g1/deep/x.ans", "8\n",
		"data/secret/g2/01.in", "3 4\n",
		"data/secret/g2/01.ans", "7\n",
		"data/secret/g2/01.files/extra.in", "not a test\n",
		"data/invalid_input/bad.in", "x\n",
		"output_validators/check/check.cpp", "#include \"testlib.h\"\nint main(int argc, char* argv[]) {}\n",
		"output_validators/check/testlib.h", "// testlib\n",
		"problem_statement/problem.en.tex", "\\problemname{Sum}\n",
		"submissions/accepted/sum.py", "print(sum(map(int, input().split())))\n",
	)
}

func testNames(p *Problem) []string {
	var names []string
	for _, t := range p.Tests {
		names = append(names, t.Name)
	}
	return names
}

func groupNames(p *Problem) []string {
	var names []string
	for _, g := range p.Groups {
		names = append(names, g.Name)
	}
	return names
}

func TestLegacyPackage(t *testing.T) {
	ts := newTestStore(t, Options{})
	p, created := ts.add(t, zipOf(t, legacyPackage()), "application/zip")
	if !created {
		t.Fatal("created = false for a new problem")
	}
	if !strings.HasPrefix(p.ID, "sha256:") || !blob.Digest(p.ID).Valid() {
		t.Fatalf("id %q", p.ID)
	}
	want := map[string]any{
		"Name": "Sum of Two", "Type": TypePassFail, "Validation": ValidationCustom, "FormatVersion": VersionLegacy,
		"TimeLimit": 1.5, "TimeMultiplier": 3.0, "MemoryMiB": int64(512), "OutputMiB": int64(16),
		"CompilationTimeSec": 30.0, "ValidationTimeSec": 5.0, "ValidationMemoryMiB": int64(1024),
	}
	v := reflect.ValueOf(*p)
	for field, w := range want {
		if got := v.FieldByName(field).Interface(); got != w {
			t.Errorf("%s = %v, want %v", field, got, w)
		}
	}
	if !reflect.DeepEqual(p.ValidatorFlags, []string{"float_tolerance", "1e-6", "case_sensitive"}) {
		t.Errorf("validator flags %q", p.ValidatorFlags)
	}
	wantTests := []string{"sample/1", "secret/a", "secret/b", "secret/g1/01", "secret/g1/02", "secret/g1/deep/x", "secret/g2/01"}
	if got := testNames(p); !reflect.DeepEqual(got, wantTests) {
		t.Errorf("tests %q\nwant  %q", got, wantTests)
	}
	wantGroups := []string{"sample", "secret", "secret/g1", "secret/g1/deep", "secret/g2"}
	if got := groupNames(p); !reflect.DeepEqual(got, wantGroups) {
		t.Errorf("groups %q, want %q", got, wantGroups)
	}
	if g := p.Tests[5]; g.Group != "secret/g1/deep" || g.Sample || !p.Tests[0].Sample || p.Tests[1].Group != "secret" {
		t.Errorf("test groups: %+v", p.Tests)
	}
	// Legacy settings: the closest file, whole.
	root := map[string]any{"on_reject": "continue"}
	g1 := map[string]any{"accept_score": 40.0, "range": "0 40"}
	wantSettings := []map[string]any{root, root, g1, g1, root}
	for i, g := range p.Groups {
		if !reflect.DeepEqual(g.Settings, wantSettings[i]) {
			t.Errorf("group %s settings %v, want %v", g.Name, g.Settings, wantSettings[i])
		}
	}
	if !reflect.DeepEqual(p.RootSettings, root) {
		t.Errorf("root settings %v", p.RootSettings)
	}
	val := p.Validator
	if val == nil || val.Name != "check" || val.Language != "cpp" || val.Protocol != ProtocolTestlib || len(val.Files) != 2 ||
		val.Files[0].Name != "check.cpp" || val.Files[1].Name != "testlib.h" {
		t.Fatalf("validator %+v", val)
	}
	// Every blob the problem names holds what the package had.
	checkBlob(t, ts.blobs, p.Tests[0].Input, "1 2\n")
	checkBlob(t, ts.blobs, p.Tests[0].Answer, "3\n")
	checkBlob(t, ts.blobs, val.Files[1].Digest, "// testlib\n")
	if p.Tests[0].InputSize != 4 || p.Tests[0].AnswerSize != 2 {
		t.Errorf("sizes %+v", p.Tests[0])
	}
	// Only what judging needs is stored: 7 tests' files (two answers
	// are equal? no: all distinct) and the validator's two files.
	if n := ts.blobCount(t); n != 2*7+2 {
		t.Errorf("%d blobs stored, want %d", n, 2*7+2)
	}
}

func checkBlob(t *testing.T, s *blob.Store, d blob.Digest, want string) {
	t.Helper()
	f, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil || buf.String() != want {
		t.Fatalf("blob %s holds %q, %v; want %q", d, buf.String(), err, want)
	}
}

// draftPackage is a 2023-07 draft scoring package with a Python validator.
func draftPackage() []entry {
	return files(
		"problem.yaml", `problem_format_version: 2023-07-draft
name:
  sv: Hej
  en: Hello
uuid: 0b8a4c9e-1111-2222-3333-444455556666
type: scoring
limits:
  time_limit: 2.5
  memory: 256
  time_multipliers:
    ac_to_time_limit: 2.0
`,
		".timelimit", "9\n", // limits.time_limit wins
		"data/sample/1.in", "1\n",
		"data/sample/1.ans", "1\n",
		"data/secret/test_group.yaml", "scoring:\n  score: 100\nfull_feedback: false\n",
		"data/secret/easy/test_group.yaml", "scoring:\n  score: 30\n",
		"data/secret/easy/1.in", "2\n",
		"data/secret/easy/1.ans", "2\n",
		"data/secret/hard/1.in", "3\n",
		"data/secret/hard/1.ans", "3\n",
		"output_validator/validate.py", "import sys\n",
		"output_validator/util.py", "X = 1\n",
	)
}

func TestDraftPackage(t *testing.T) {
	ts := newTestStore(t, Options{})
	p, _ := ts.add(t, tgzOf(t, draftPackage()), "application/gzip")
	if p.Name != "Hello" || p.Type != TypeScoring || p.Validation != ValidationCustom || p.FormatVersion != VersionDraft {
		t.Fatalf("problem %+v", p)
	}
	if p.TimeLimit != 2.5 || p.TimeMultiplier != 2 || p.MemoryMiB != 256 || p.OutputMiB != DefaultOutputMiB {
		t.Errorf("limits: time %v ×%v memory %v output %v", p.TimeLimit, p.TimeMultiplier, p.MemoryMiB, p.OutputMiB)
	}
	if got := testNames(p); !reflect.DeepEqual(got, []string{"sample/1", "secret/easy/1", "secret/hard/1"}) {
		t.Errorf("tests %q", got)
	}
	// 2023-07 settings: key by key, scoring not inherited.
	want := map[string]map[string]any{
		"sample":      nil,
		"secret":      {"scoring": map[string]any{"score": 100.0}, "full_feedback": false},
		"secret/easy": {"scoring": map[string]any{"score": 30.0}, "full_feedback": false},
		"secret/hard": {"full_feedback": false},
	}
	for _, g := range p.Groups {
		if !reflect.DeepEqual(g.Settings, want[g.Name]) {
			t.Errorf("group %s settings %v, want %v", g.Name, g.Settings, want[g.Name])
		}
	}
	if v := p.Validator; v == nil || v.Name != "output_validator" || v.Language != "python" || v.Protocol != ProtocolKattis || len(v.Files) != 2 {
		t.Fatalf("validator %+v", p.Validator)
	}
}

func TestTypesAndValidation(t *testing.T) {
	secret := []string{"data/secret/1.in", "1\n", "data/secret/1.ans", "one\n"}
	validator := []string{"output_validators/v/v.c", "int main(){}\n"}
	cases := []struct {
		name       string
		yaml       string
		validator  bool
		typ, valid string
		flags      []string
	}{
		{"defaults", "name: x\n", false, TypePassFail, ValidationDefault, nil},
		{"legacy validator ignored by default validation", "name: x\n", true, TypePassFail, ValidationDefault, nil},
		{"custom score", "validation: custom score\n", true, TypeScoring, ValidationCustom, nil},
		{"custom interactive", "validation: custom interactive\n", true, TypeInteractive, ValidationCustom, nil},
		{"draft interactive", "problem_format_version: 2023-07-draft\nname: x\ntype: interactive\n", true, TypeInteractive, ValidationCustom, nil},
		{"testlib interactor", "validation: custom interactive\nvalidator_protocol: testlib\n", true, TypeInteractive, ValidationCustom, nil},
		{"draft type list", "problem_format_version: 2023-07-draft\nname: x\ntype: [pass-fail]\n", false, TypePassFail, ValidationDefault, nil},
		{"legacy type scoring", "type: scoring\nvalidator_flags: case_sensitive\n", false, TypeScoring, ValidationDefault, []string{"case_sensitive"}},
		{"flags as a sequence", "validator_flags: [float_tolerance, '1e-9']\n", false, TypePassFail, ValidationDefault, []string{"float_tolerance", "1e-9"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestStore(t, Options{})
			kv := append([]string{"problem.yaml", c.yaml}, secret...)
			if c.validator {
				kv = append(kv, validator...)
			}
			p, _ := ts.add(t, zipOf(t, files(kv...)), "application/zip")
			if p.Type != c.typ || p.Validation != c.valid || !reflect.DeepEqual(p.ValidatorFlags, c.flags) {
				t.Fatalf("type %s validation %s flags %q; want %s %s %q", p.Type, p.Validation, p.ValidatorFlags, c.typ, c.valid, c.flags)
			}
			if (p.Validator != nil) != (c.valid == ValidationCustom) {
				t.Fatalf("validator %+v with validation %s", p.Validator, p.Validation)
			}
			if p.Validator == nil && ts.blobCount(t) != 2 {
				t.Errorf("an unused validator stays stored: %d blobs", ts.blobCount(t))
			}
		})
	}
}

// variants packs the same package in every way the store must see as one.
func variants(t *testing.T, es []entry) map[string][]byte {
	reversed := make([]entry, len(es))
	for i, e := range es {
		reversed[len(es)-1-i] = e
	}
	within := func(prefix string) []entry {
		out := []entry{{name: strings.TrimSuffix(prefix, "/") + "/"}}
		for _, e := range es {
			out = append(out, entry{name: prefix + e.name, body: e.body})
		}
		return out
	}
	withDirs := []entry{{name: "data/"}, {name: "data/secret/"}}
	withDirs = append(withDirs, es...)
	return map[string][]byte{
		"zip":                    zipOf(t, es),
		"tar":                    tarOf(t, es),
		"tar.gz":                 tgzOf(t, es),
		"zip, reversed":          zipOf(t, reversed),
		"tar, ./ prefixes":       tarOf(t, within("./")),
		"zip in a directory":     zipOf(t, within("sum/")),
		"tar.gz in a directory":  tgzOf(t, within("sum/")),
		"tar with dir entries":   tarOf(t, withDirs),
		"zip with a//double /./": zipOf(t, files("problem.yaml", es[0].body, "data//secret/./1.in", "1\n", "data/secret/1.ans", "1\n")),
	}
}

func TestSameIDWhateverThePacking(t *testing.T) {
	pkg := files("problem.yaml", "name: one\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n")
	ts := newTestStore(t, Options{})
	first, created := ts.add(t, zipOf(t, pkg), "application/zip")
	if !created {
		t.Fatal("first upload not created")
	}
	before := ts.tree(t)
	for name, archive := range variants(t, pkg) {
		p, created, err := ts.Add(bytes.NewReader(archive), "application/octet-stream")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if created || p.ID != first.ID {
			t.Errorf("%s: id %s created %v; want %s, not created", name, p.ID, created, first.ID)
		}
	}
	sameTree(t, before, ts.tree(t))
	if n := len(ts.List()); n != 1 {
		t.Fatalf("%d problems listed, want 1", n)
	}
	// Content decides: a different byte is a different problem.
	other, created := ts.add(t, zipOf(t, files("problem.yaml", "name: one\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "2\n")), "application/zip")
	if !created || other.ID == first.ID {
		t.Fatal("a package with another answer got the same id")
	}
}

func TestRestartKeepsProblems(t *testing.T) {
	ts := newTestStore(t, Options{})
	a, _ := ts.add(t, zipOf(t, legacyPackage()), "application/zip")
	b, _ := ts.add(t, tgzOf(t, draftPackage()), "application/gzip")
	ts.reopen(t)
	for _, want := range []*Problem{a, b} {
		got, err := ts.Get(want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("after a restart:\n%+v\nbefore:\n%+v", got, want)
		}
	}
	if list := ts.List(); len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Errorf("list after restart: %d problems", len(list))
	}
	if _, created := ts.add(t, tarOf(t, legacyPackage()), "application/x-tar"); created {
		t.Error("a problem stored before the restart was created again")
	}
}

func TestDeleteKeepsSharedFiles(t *testing.T) {
	ts := newTestStore(t, Options{})
	empty := ts.tree(t)
	a, _ := ts.add(t, zipOf(t, files("problem.yaml", "name: a\n", "data/secret/1.in", "shared\n", "data/secret/1.ans", "a\n")), "application/zip")
	b, _ := ts.add(t, zipOf(t, files("problem.yaml", "name: b\n", "data/secret/1.in", "shared\n", "data/secret/1.ans", "b\n")), "application/zip")
	if n := ts.blobCount(t); n != 3 {
		t.Fatalf("%d blobs for two problems sharing an input, want 3", n)
	}
	if err := ts.Delete(a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Get(a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := ts.Delete(a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	if !ts.blobs.Has(b.Tests[0].Input) || !ts.blobs.Has(b.Tests[0].Answer) || ts.blobs.Has(a.Tests[0].Answer) {
		t.Fatal("Delete removed a file another problem uses, or kept one nobody uses")
	}
	ts.reopen(t)
	if list := ts.List(); len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("after delete and restart: %v", list)
	}
	if err := ts.Delete(b.ID); err != nil {
		t.Fatal(err)
	}
	sameTree(t, empty, ts.tree(t))
	if err := ts.Delete("sha256:nothing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete of a malformed id: %v", err)
	}
}

func TestContentDecidesTheFormat(t *testing.T) {
	pkg := files("problem.yaml", "name: one\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n")
	ts := newTestStore(t, Options{})
	for ct, archive := range map[string][]byte{
		"application/gzip":                  zipOf(t, pkg),
		"application/zip":                   tgzOf(t, pkg),
		"application/x-tar; charset=binary": tarOf(t, pkg),
	} {
		if _, _, err := ts.Add(bytes.NewReader(archive), ct); err != nil {
			t.Errorf("%s: %v", ct, err)
		}
	}
	if !AcceptsContentType("Application/Zip") || AcceptsContentType("application/json") || AcceptsContentType("") {
		t.Error("AcceptsContentType")
	}
}

func TestTestFilesAreStreamed(t *testing.T) {
	const size = 48 << 20
	big := strings.Repeat("123456789 987654321 1000000007\n", size/31)
	ts := newTestStore(t, Options{MaxRatio: -1})
	archive := tgzOf(t, files("problem.yaml", "name: big\n", "data/secret/1.in", big, "data/secret/1.ans", big[:1<<20]))
	big = ""
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p, _ := ts.add(t, archive, "application/gzip")
	runtime.ReadMemStats(&after)
	if p.Tests[0].InputSize != int64(size/31*31) {
		t.Fatalf("input size %d", p.Tests[0].InputSize)
	}
	// Reading a 48 MiB test may allocate buffers, not the test.
	alloc := after.TotalAlloc - before.TotalAlloc
	if alloc > 8<<20 {
		t.Errorf("adding a package with a 48 MiB test allocated %d MiB", alloc>>20)
	}
	t.Logf("adding a package with a 48 MiB test allocated %d KiB", alloc>>10)
}

func TestBudget(t *testing.T) {
	b := newBudget(1000, 10, 50, 20) // ratio: 200 bytes
	r := b.reader(strings.NewReader(strings.Repeat("x", 300)))
	buf := make([]byte, 1000)
	n := 0
	var err error
	for err == nil {
		var k int
		k, err = r.Read(buf)
		n += k
	}
	if n > 201 {
		t.Errorf("read %d bytes past a budget of 200", n)
	}
	wantBad(t, err, "max_ratio")
	b = newBudget(100, 10, 50, 1000) // the byte cap binds
	if _, err := b.reader(strings.NewReader(strings.Repeat("x", 101))).Read(make([]byte, 200)); err == nil || !strings.Contains(err.Error(), "max_bytes_mib") {
		t.Errorf("byte cap: %v", err)
	}
}

// lyingZip has one deflated entry whose header says it expands to
// 10 bytes, while it expands to a MiB.
func lyingZip(t *testing.T) []byte {
	t.Helper()
	content := bytes.Repeat([]byte{'0'}, 1<<20)
	var deflated bytes.Buffer
	{
		var tmp bytes.Buffer
		zw := zip.NewWriter(&tmp)
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "x", Method: zip.Deflate})
		w.Write(content)
		zw.Close()
		zr, _ := zip.NewReader(bytes.NewReader(tmp.Bytes()), int64(tmp.Len()))
		raw, _ := zr.File[0].OpenRaw()
		deflated.ReadFrom(raw)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("problem.yaml")
	w.Write([]byte("name: x\n"))
	h := &zip.FileHeader{Name: "data/secret/1.in", Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(content),
		CompressedSize64: uint64(deflated.Len()), UncompressedSize64: 10}
	rw, err := zw.CreateRaw(h)
	if err != nil {
		t.Fatal(err)
	}
	rw.Write(deflated.Bytes())
	w, _ = zw.Create("data/secret/1.ans")
	w.Write([]byte("1\n"))
	zw.Close()
	return buf.Bytes()
}

func TestHostileArchives(t *testing.T) {
	ok := []string{"problem.yaml", "name: x\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n"}
	with := func(kv ...string) []entry { return files(append(append([]string{}, ok...), kv...)...) }
	zeros := strings.Repeat("\x00", 8<<20)
	big := strings.Repeat("y", 2<<20)
	laughs := "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
		"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n" +
		"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
	var many []string
	for i := range 30 {
		many = append(many, "data/secret/"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+".desc", "")
	}
	encrypted := func() []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for i := 0; i < len(ok); i += 2 {
			h := &zip.FileHeader{Name: ok[i], Method: zip.Store}
			if i == 2 {
				h.Flags |= 0x1
			}
			w, _ := zw.CreateHeader(h)
			w.Write([]byte(ok[i+1]))
		}
		zw.Close()
		return buf.Bytes()
	}()
	truncated := zipOf(t, with("data/secret/2.in", big, "data/secret/2.ans", "2\n"))
	truncated = truncated[:len(truncated)/2]
	corruptGz := tgzOf(t, with("data/secret/2.in", big, "data/secret/2.ans", "2\n"))
	corruptGz[len(corruptGz)/2] ^= 0xff

	cases := []struct {
		name    string
		archive []byte
		opt     Options
		want    []string
	}{
		{"dot-dot", tarOf(t, with("../evil", "x")), Options{}, []string{"../evil", ".."}},
		{"dot-dot inside", zipOf(t, with("data/../../evil", "x")), Options{}, []string{"data/../../evil", ".."}},
		{"dot-dot that cleans away", zipOf(t, with("data/x/../secret/2.in", "x")), Options{}, []string{".."}},
		{"absolute", tarOf(t, with("/etc/passwd", "x")), Options{}, []string{"/etc/passwd", "absolute"}},
		{"drive letter", zipOf(t, with("C:/x", "x")), Options{}, []string{"C:/x", "absolute"}},
		{"backslash", zipOf(t, with(`data\secret\2.in`, "x")), Options{}, []string{"backslash"}},
		{"control character", tarOf(t, with("data/secret/\n2.in", "x")), Options{}, []string{"control character"}},
		{"symlink in tar", tarOf(t, append(with(), entry{name: "data/secret/2.in", tarType: tar.TypeSymlink, link: "/etc/shadow"})), Options{}, []string{"data/secret/2.in", "symbolic link"}},
		{"hardlink in tar", tarOf(t, append(with(), entry{name: "data/secret/2.in", tarType: tar.TypeLink, link: "data/secret/1.in"})), Options{}, []string{"hard link"}},
		{"char device", tarOf(t, append(with(), entry{name: "data/secret/tty", tarType: tar.TypeChar})), Options{}, []string{"device"}},
		{"block device", tarOf(t, append(with(), entry{name: "data/secret/sda", tarType: tar.TypeBlock})), Options{}, []string{"device"}},
		{"fifo", tarOf(t, append(with(), entry{name: "data/secret/pipe", tarType: tar.TypeFifo})), Options{}, []string{"fifo"}},
		{"symlink in zip", zipOf(t, append(with(), entry{name: "data/secret/2.in", body: "/etc/shadow", zipMode: fs.ModeSymlink | 0o777})), Options{}, []string{"symbolic link"}},
		{"too many files", zipOf(t, with(many...)), Options{MaxFiles: 20}, []string{"more than 20 entries", "max_files"}},
		{"too many bytes", zipOf(t, with("data/secret/2.in", big, "data/secret/2.ans", "2\n")), Options{MaxBytes: 1 << 20}, []string{"max_bytes_mib"}},
		{"too many bytes in an ignored file", tgzOf(t, with("statement/huge.pdf", big)), Options{MaxBytes: 1 << 20}, []string{"max_bytes_mib"}},
		{"ratio bomb", tgzOf(t, with("data/secret/2.in", zeros, "data/secret/2.ans", "2\n")), Options{MaxRatio: 50, RatioFloor: 1 << 20}, []string{"max_ratio", "bomb"}},
		{"lying zip header", lyingZip(t), Options{}, []string{"data/secret/1.in", "cannot be read"}},
		{"missing .ans", zipOf(t, with("data/secret/2.in", "2\n")), Options{}, []string{"data/secret/2.in", "no answer file 2.ans"}},
		{"missing .in", zipOf(t, with("data/sample/2.ans", "2\n")), Options{}, []string{"data/sample/2.ans", "no input file"}},
		{"invalid problem.yaml", zipOf(t, files("problem.yaml", "name: [unclosed\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n")), Options{}, []string{"problem.yaml", "invalid YAML"}},
		{"problem.yaml not a mapping", zipOf(t, files("problem.yaml", "- a\n- b\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n")), Options{}, []string{"problem.yaml", "mapping"}},
		{"duplicate YAML key", zipOf(t, files("problem.yaml", "name: a\nname: b\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n")), Options{}, []string{"problem.yaml", "invalid YAML"}},
		{"YAML alias bomb", zipOf(t, files("problem.yaml", laughs, "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n")), Options{}, []string{"problem.yaml", "invalid YAML"}},
		{"huge problem.yaml", zipOf(t, files("problem.yaml", "name: x\n#"+big+"\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n")), Options{}, []string{"problem.yaml", "larger than"}},
		{"invalid testdata.yaml", zipOf(t, with("data/secret/testdata.yaml", "accept_score: {\n")), Options{}, []string{"data/secret/testdata.yaml", "invalid YAML"}},
		{"bad range", zipOf(t, with("data/secret/testdata.yaml", "range: 10 0\n")), Options{}, []string{"data/secret/testdata.yaml", "range"}},
		{"two settings files", zipOf(t, with("data/secret/testdata.yaml", "{}\n", "data/secret/test_group.yaml", "{}\n")), Options{}, []string{"settings file"}},
		{"bad limit", zipOf(t, files("problem.yaml", "limits:\n  memory: lots\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n")), Options{}, []string{"limits.memory", "number"}},
		{"bad .timelimit", zipOf(t, with(".timelimit", "soon\n")), Options{}, []string{".timelimit"}},
		{"unknown format version", zipOf(t, files("problem.yaml", "problem_format_version: 1999-01\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n")), Options{}, []string{"problem_format_version"}},
		{"validator in an unknown language", zipOf(t, append(files("problem.yaml", "validation: custom\n"), with("output_validators/v/v.rb", "exit 42\n")[1:]...)), Options{}, []string{"output_validators/v/", "no source file in a language"}},
		{"custom without a validator", zipOf(t, files("problem.yaml", "validation: custom\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n")), Options{}, []string{"output_validators/", "missing"}},
		{"two validators", zipOf(t, append(files("problem.yaml", "validation: custom\n"), with("output_validators/a/a.c", "", "output_validators/b.py", "")[1:]...)), Options{}, []string{"more than one output validator"}},
		{"build script", zipOf(t, append(files("problem.yaml", "validation: custom\n"), with("output_validators/a/build", "", "output_validators/a/a.c", "")[1:]...)), Options{}, []string{"build"}},
		{"validator in two languages", zipOf(t, append(files("problem.yaml", "validation: custom\n"), with("output_validators/a/a.c", "", "output_validators/a/b.py", "")[1:]...)), Options{}, []string{"more than one language"}},
		{"unknown protocol", zipOf(t, append(files("problem.yaml", "validation: custom\nvalidator_protocol: domjudge\n"), with("output_validators/a/a.c", "")[1:]...)), Options{}, []string{"validator_protocol", "domjudge"}},
		{"unsupported type", zipOf(t, files("problem.yaml", "problem_format_version: 2023-07-draft\ntype: multi-pass\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n")), Options{}, []string{"multi-pass"}},
		{"same path twice", zipOf(t, with("data/secret/./1.in", "other\n")), Options{}, []string{"appears twice"}},
		{"names differing in case", zipOf(t, with("data/secret/A.in", "1\n", "data/secret/a.in", "1\n")), Options{}, []string{"differ only in case"}},
		{"directories differing in case", zipOf(t, with("data/Secret/x.desc", "")), Options{}, []string{"differ only in case"}},
		{"file and directory", zipOf(t, with("data/secret/x", "", "data/secret/x/1.in", "")), Options{}, []string{"both a file and a directory"}},
		{"trailing slash", tarOf(t, append(with(), entry{name: "data/secret/1.in/"})), Options{}, []string{"both a file and a directory"}},
		{"test and group of one name", zipOf(t, with("data/secret/1/2.in", "2\n", "data/secret/1/2.ans", "2\n")), Options{}, []string{"both a test"}},
		{"no problem.yaml", zipOf(t, files("data/secret/1.in", "1\n", "data/secret/1.ans", "1\n")), Options{}, []string{"problem.yaml", "missing"}},
		{"no secret tests", zipOf(t, files("problem.yaml", "name: x\n", "data/sample/1.in", "1\n", "data/sample/1.ans", "1\n")), Options{}, []string{"data/secret", "no test cases"}},
		{"test outside sample and secret", zipOf(t, with("data/3.in", "3\n", "data/3.ans", "3\n")), Options{}, []string{"data/3", "sample or data/secret"}},
		{"encrypted zip entry", encrypted, Options{}, []string{"encrypted"}},
		{"truncated zip", truncated, Options{}, []string{"zip"}},
		{"corrupt gzip", corruptGz, Options{}, []string{"bad problem package"}},
		{"not an archive", []byte("name: x\n" + strings.Repeat(" ", 600)), Options{}, []string{"not a zip, tar or tar.gz archive"}},
		{"empty body", nil, Options{}, []string{"not a zip"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestStore(t, c.opt)
			// A stored problem sharing files with the hostile one: its
			// blobs must survive the refusal.
			kept, _ := ts.add(t, zipOf(t, files("problem.yaml", "name: kept\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n")), "application/zip")
			before := ts.tree(t)
			p, _, err := ts.Add(bytes.NewReader(c.archive), "application/zip")
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			wantBad(t, err, c.want...)
			t.Logf("%s: %v", c.name, err)
			sameTree(t, before, ts.tree(t))
			if _, err := ts.Get(kept.ID); err != nil || len(ts.List()) != 1 {
				t.Fatalf("the stored problem: %v, %d listed", err, len(ts.List()))
			}
		})
	}
}

func TestLanguageDetection(t *testing.T) {
	langs := map[string][]string{"c": {".c", ".h"}, "cpp": {".cpp", ".h"}, "python": {".py"}}
	for _, c := range []struct {
		files []string
		want  string
	}{
		{[]string{"v.cpp", "v.h"}, "cpp"},
		{[]string{"v.c", "v.h", "README"}, "c"},
		{[]string{"__main__.py", "__init__.py", "data.txt"}, "python"},
		{[]string{"only.h"}, ""}, // claimed by two, by none alone
		{[]string{"x.cpp", "y.c"}, ""},
		{[]string{".py"}, ""},
	} {
		got, err := detectLanguage("v", c.files, langs)
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("%q: %q, %v; want %q", c.files, got, err, c.want)
		}
	}
}

func TestConcurrentAddsAndDeletes(t *testing.T) {
	ts := newTestStore(t, Options{})
	shared := files("problem.yaml", "name: shared\n", "data/secret/1.in", "common\n", "data/secret/1.ans", "1\n")
	done := make(chan error, 16)
	for i := range 8 {
		go func() {
			archive := zipOf(t, shared)
			if i%2 == 1 {
				archive = tgzOf(t, files("problem.yaml", "name: other\n", "data/secret/1.in", "common\n", "data/secret/1.ans", strings.Repeat("x", i)+"\n"))
			}
			p, _, err := ts.Add(bytes.NewReader(archive), "")
			if err == nil && i%4 == 1 {
				err = ts.Delete(p.ID)
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	// Whatever the interleaving, every stored problem has all its files.
	for _, p := range ts.List() {
		for _, d := range p.Digests() {
			if !ts.blobs.Has(d) {
				t.Errorf("problem %s lost %s", p.Name, d)
			}
		}
	}
	if n := len(ts.List()); n != 1+2 {
		t.Errorf("%d problems stored, want 3 (one shared, two of four others kept)", n)
	}
	ts.reopen(t)
}

func TestOpenRemovesUnfinishedUploads(t *testing.T) {
	ts := newTestStore(t, Options{})
	empty := ts.tree(t)
	for _, name := range []string{"upload-123", "manifest-456"} {
		if err := os.WriteFile(filepath.Join(ts.dir, "problems", "tmp", name), []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ts.reopen(t)
	sameTree(t, empty, ts.tree(t))
}

func TestOpenRefusesDamagedStores(t *testing.T) {
	ts := newTestStore(t, Options{})
	p, _ := ts.add(t, zipOf(t, legacyPackage()), "application/zip")
	if err := ts.blobs.Remove(p.Tests[3].Answer); err != nil {
		t.Fatal(err)
	}
	if err := ts.blobs.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := blob.Open(filepath.Join(ts.dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	ts.blobs = b
	if _, err := OpenStore(filepath.Join(ts.dir, "problems"), b, Options{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("OpenStore with a problem's file gone: %v", err)
	}
}
