package e2e

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// The problem tests are not parallel: each compares the store's files
// before and after, so nothing else may upload meanwhile. They run before
// the suite's parallel tests.

// problemStore is the shared server's problem store directory.
var problemStore string

// startSerial skips the test when the server could not run.
func startSerial(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// sumPackage is A+B with groups, a settings file, a C++ validator and a
// test of a few MiB.
func sumPackage() testserver.Package {
	var big strings.Builder
	for i := 0; big.Len() < 3<<20; i++ {
		fmt.Fprintf(&big, "%d %d\n", i, 2*i)
	}
	return testserver.Package{
		"problem.yaml":                      "name: A plus B\nvalidation: custom\nvalidator_flags: float_tolerance 1e-6\nlimits:\n  memory: 256\n",
		".timelimit":                        "2\n",
		"data/sample/1.in":                  "1 2\n",
		"data/sample/1.ans":                 "3\n",
		"data/secret/small/testdata.yaml":   "accept_score: 40\n",
		"data/secret/small/01.in":           "2 2\n",
		"data/secret/small/01.ans":          "4\n",
		"data/secret/small/02.in":           "0 0\n",
		"data/secret/small/02.ans":          "0\n",
		"data/secret/large/01.in":           big.String(),
		"data/secret/large/01.ans":          "many\n",
		"output_validators/check/check.cpp": "#include <cstdio>\nint main() { return 42; }\n",
		"problem_statement/problem.en.tex":  "\\problemname{A plus B}\n",
	}
}

// storeTree lists every file and directory under the server's problem
// store, files with their sizes.
func storeTree(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(problemStore, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(problemStore, p)
		out = append(out, fmt.Sprintf("%s %v %d", rel, info.Mode(), info.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// dataDirEntries are the names at the top of the shared data dir: an
// upload must not add anything there either.
func dataDirEntries(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(testserver.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func blobCount(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(problemStore, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// packer returns a function that unwraps a packed archive, failing t on
// an error.
func packer(t *testing.T) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func upload(t *testing.T, archive []byte, contentType string) (int, testserver.ProblemSummary, []byte) {
	t.Helper()
	status, sum, body, err := testserver.UploadProblem(client, baseURL, archive, contentType)
	if err != nil {
		t.Fatal(err)
	}
	return status, sum, body
}

func request(t *testing.T, method, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, baseURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// wantJSONError checks an error answer: its status and a JSON
// {"error": ...} mentioning every one of parts.
func wantJSONError(t *testing.T, status int, body []byte, want int, parts ...string) {
	t.Helper()
	var e struct{ Error string }
	if status != want || json.Unmarshal(body, &e) != nil || e.Error == "" {
		t.Fatalf("status %d body %s; want %d with a JSON error", status, clip(string(body)), want)
	}
	for _, p := range parts {
		if !strings.Contains(e.Error, p) {
			t.Errorf("error %q does not mention %q", e.Error, p)
		}
	}
}

func TestProblemUploadListGetDelete(t *testing.T) {
	startSerial(t)
	pkg, pack := sumPackage(), packer(t)
	empty, dataDir := storeTree(t), dataDirEntries(t)

	status, first, body := upload(t, pack(pkg.Zip("")), "application/zip")
	if status != http.StatusCreated {
		t.Fatalf("zip upload: %d %s", status, clip(string(body)))
	}
	if !strings.HasPrefix(first.ID, "sha256:") || len(first.ID) != 71 || first.Name != "A plus B" || first.Type != "pass-fail" ||
		first.Tests != 4 || first.Groups != 4 || first.Validation != "custom" ||
		first.TimeLimit == nil || *first.TimeLimit != 2 || first.MemoryLimit == nil || *first.MemoryLimit != 256*1024 {
		t.Fatalf("summary %s", body)
	}
	stored, blobs := storeTree(t), blobCount(t)
	// The tests' 8 files and the validator: not the statement.
	if blobs != 9 {
		t.Errorf("%d blobs stored for 4 tests and a one-file validator, want 9", blobs)
	}

	// The same package again, packed otherwise: the same id, nothing new.
	for ct, archive := range map[string][]byte{
		"application/gzip":   pack(pkg.TarGz("aplusb/")),
		"application/x-tar":  pack(pkg.Tar("")),
		"application/x-gzip": pack(pkg.TarGz("")),
		"application/zip":    pack(pkg.Zip("")),
	} {
		status, again, body := upload(t, archive, ct)
		if status != http.StatusOK || !reflect.DeepEqual(again, first) {
			t.Errorf("%s upload: %d %s; want 200 with the same summary", ct, status, clip(string(body)))
		}
	}
	if after := storeTree(t); !reflect.DeepEqual(stored, after) {
		t.Errorf("uploading the same package again changed the store:\nbefore %v\nafter  %v", stored, after)
	}

	status, body = request(t, "GET", "/v1/problems")
	var list []testserver.ProblemSummary
	if status != 200 || json.Unmarshal(body, &list) != nil || len(list) != 1 || !reflect.DeepEqual(list[0], first) {
		t.Fatalf("list: %d %s", status, clip(string(body)))
	}
	status, body = request(t, "GET", "/v1/problems/"+first.ID)
	var detail struct {
		ID        string `json:"id"`
		TestCases []struct {
			Name      string `json:"name"`
			Group     string `json:"group"`
			InputSize int64  `json:"input_size"`
		} `json:"test_cases"`
		TestGroups []struct {
			Name     string         `json:"name"`
			Settings map[string]any `json:"settings"`
		} `json:"test_groups"`
		ValidatorFlags []string `json:"validator_flags"`
		Validator      struct {
			Language string `json:"language"`
			Protocol string `json:"protocol"`
		} `json:"validator"`
	}
	if status != 200 || json.Unmarshal(body, &detail) != nil {
		t.Fatalf("get: %d %s", status, clip(string(body)))
	}
	var names []string
	for _, tc := range detail.TestCases {
		names = append(names, tc.Name+"@"+tc.Group)
	}
	want := []string{"sample/1@sample", "secret/large/01@secret/large", "secret/small/01@secret/small", "secret/small/02@secret/small"}
	if !reflect.DeepEqual(names, want) || detail.TestCases[1].InputSize < 3<<20 {
		t.Errorf("tests %q, want %q", names, want)
	}
	if len(detail.TestGroups) != 4 || detail.TestGroups[3].Name != "secret/small" || detail.TestGroups[3].Settings["accept_score"] != 40.0 {
		t.Errorf("groups %+v", detail.TestGroups)
	}
	if detail.Validator.Language != "cpp" || detail.Validator.Protocol != "kattis" || !reflect.DeepEqual(detail.ValidatorFlags, []string{"float_tolerance", "1e-6"}) {
		t.Errorf("validator %+v flags %q", detail.Validator, detail.ValidatorFlags)
	}

	unknown := "sha256:" + strings.Repeat("0", 64)
	status, body = request(t, "GET", "/v1/problems/"+unknown)
	wantJSONError(t, status, body, 404, unknown)
	status, body = request(t, "DELETE", "/v1/problems/"+unknown)
	wantJSONError(t, status, body, 404, unknown)

	status, body = request(t, "DELETE", "/v1/problems/"+first.ID)
	if status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, clip(string(body)))
	}
	status, body = request(t, "GET", "/v1/problems/"+first.ID)
	wantJSONError(t, status, body, 404)
	if after := storeTree(t); !reflect.DeepEqual(empty, after) {
		t.Errorf("after the delete the store is not as it was:\nbefore %v\nafter  %v", empty, after)
	}
	if after := dataDirEntries(t); !reflect.DeepEqual(dataDir, after) {
		t.Errorf("the data dir changed: %v, then %v", dataDir, after)
	}
}

// hostileEntry is an archive entry of any kind.
type hostileEntry struct {
	name, body string
	typ        byte // tar type; 0 is a regular file
	link       string
}

func hostileTar(t *testing.T, entries []hostileEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		if e.typ != 0 {
			h.Typeflag, h.Linkname, h.Size = e.typ, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			io.WriteString(tw, e.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawZip keeps the entries' names as given (Package.Zip sorts them).
func rawZip(t *testing.T, kv ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(kv); i += 2 {
		w, err := zw.Create(kv[i])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, kv[i+1])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bomb is a tar.gz whose one test expands past 100 times the archive.
func bomb(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name string
		size int64
	}{{"problem.yaml", 8}, {"data/secret/1.in", 256 << 20}, {"data/secret/1.ans", 2}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: f.size, Typeflag: tar.TypeReg})
		switch f.name {
		case "problem.yaml":
			io.WriteString(tw, "name: x\n")
		case "data/secret/1.ans":
			io.WriteString(tw, "1\n")
		default:
			zeros := make([]byte, 1<<20)
			for range f.size >> 20 {
				tw.Write(zeros)
			}
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestProblemHostileArchives(t *testing.T) {
	startSerial(t)
	ok := []string{"problem.yaml", "name: x\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n"}
	okTar := []hostileEntry{{name: "problem.yaml", body: "name: x\n"}, {name: "data/secret/1.in", body: "1\n"}, {name: "data/secret/1.ans", body: "1\n"}}
	withTar := func(e hostileEntry) []byte { return hostileTar(t, append(append([]hostileEntry{}, okTar...), e)) }
	with := func(kv ...string) []byte { return rawZip(t, append(append([]string{}, ok...), kv...)...) }
	var many []string
	for i := range 10001 { // [problems] max_files is 10000
		many = append(many, fmt.Sprintf("statement/f%05d.txt", i), "")
	}

	cases := []struct {
		name    string
		archive []byte
		ct      string
		want    []string
	}{
		{"dot-dot", withTar(hostileEntry{name: "../../etc/cron.d/x", body: "x"}), "application/x-tar", []string{"../../etc/cron.d/x", ".."}},
		{"absolute path", withTar(hostileEntry{name: "/etc/passwd", body: "x"}), "application/x-tar", []string{"/etc/passwd", "absolute"}},
		{"symlink", withTar(hostileEntry{name: "data/secret/2.in", typ: tar.TypeSymlink, link: "/etc/shadow"}), "application/x-tar", []string{"symbolic link"}},
		{"hard link", withTar(hostileEntry{name: "data/secret/2.in", typ: tar.TypeLink, link: "/etc/shadow"}), "application/x-tar", []string{"hard link"}},
		{"device", withTar(hostileEntry{name: "data/secret/2.in", typ: tar.TypeChar}), "application/x-tar", []string{"device"}},
		{"fifo", withTar(hostileEntry{name: "data/secret/2.in", typ: tar.TypeFifo}), "application/x-tar", []string{"fifo"}},
		{"too many files", with(many...), "application/zip", []string{"max_files"}},
		{"archive bomb", bomb(t), "application/gzip", []string{"bomb"}},
		{"missing .ans", with("data/secret/2.in", "2\n"), "application/zip", []string{"data/secret/2.in", ".ans"}},
		{"invalid YAML", rawZip(t, "problem.yaml", "name: [x\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n"), "application/zip", []string{"problem.yaml", "YAML"}},
		{"validator in no shipped language", rawZip(t, "problem.yaml", "validation: custom\n", "data/secret/1.in", "1\n", "data/secret/1.ans", "1\n",
			"output_validators/v/v.rb", "exit 42\n"), "application/zip", []string{"output_validators/v/", "language"}},
		{"same path after normalising", with("data/secret/./1.in", "2\n"), "application/zip", []string{"appears twice"}},
		{"names differing in case", with("data/secret/1.IN", "2\n"), "application/zip", []string{"case"}},
		{"file and directory", withTar(hostileEntry{name: "data/secret/1.in/", typ: tar.TypeDir}), "application/x-tar", []string{"both a file and a directory"}},
		{"not an archive", []byte(strings.Repeat("not an archive\n", 100)), "application/zip", []string{"not a zip"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, dataDir := storeTree(t), dataDirEntries(t)
			status, _, body := upload(t, c.archive, c.ct)
			wantJSONError(t, status, body, http.StatusBadRequest, c.want...)
			if after := storeTree(t); !reflect.DeepEqual(before, after) {
				t.Errorf("a refused upload changed the store:\nbefore %v\nafter  %v", before, after)
			}
			if after := dataDirEntries(t); !reflect.DeepEqual(dataDir, after) {
				t.Errorf("a refused upload changed the data dir: %v, then %v", dataDir, after)
			}
		})
	}
	status, _, body := upload(t, rawZip(t, ok...), "application/json")
	wantJSONError(t, status, body, http.StatusUnsupportedMediaType, "application/zip")
	if status, body := get(t, "/v1/health"); status != 200 {
		t.Fatalf("health after hostile uploads: %d %s", status, body)
	}
}
