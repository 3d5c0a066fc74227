package http

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"io/fs"
	nethttp "net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/pecan-judge/pecan/blob"
	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/problems"
)

// problemStore is a real problem store in a test directory.
func problemStore(t *testing.T) (*problems.Store, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := blob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s, err := problems.OpenStore(filepath.Join(dir, "problems"), b, problems.Options{Languages: map[string][]string{"cpp": {".cpp"}}})
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func newProblemApp(t *testing.T, store Problems, maxUpload int64, auth config.Auth) *fiber.App {
	t.Helper()
	return New(Options{
		Limits: testLimits, BodyLimit: testBodyLimit, QueueTimeout: 30 * time.Second,
		Problems: store, MaxUploadBytes: maxUpload, Auth: auth,
	}, testRegistry(t), &fakeJudge{})
}

// packageFiles is a small package: two groups, a C++ validator, and an
// input larger than the JSON body limit (random, so that it stays large
// compressed).
func packageFiles(t *testing.T) map[string]string {
	t.Helper()
	big := make([]byte, 3*testBodyLimit)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"problem.yaml":                 "name: A plus B\nvalidation: custom\nlimits:\n  time_limit: 1.5\n  memory: 128\n",
		"data/sample/1.in":             "1 2\n",
		"data/sample/1.ans":            "3\n",
		"data/secret/g1/1.in":          string(big),
		"data/secret/g1/1.ans":         "big\n",
		"data/secret/g2/testdata.yaml": "accept_score: 60\n",
		"data/secret/g2/1.in":          "2 2\n",
		"data/secret/g2/1.ans":         "4\n",
		"output_validators/v/v.cpp":    "int main() { return 42; }\n",
	}
}

func sortedNames(files map[string]string) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func zipArchive(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range sortedNames(files) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[name]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tgzArchive(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range sortedNames(files) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[name]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func postArchive(contentType string, body []byte) *nethttp.Request {
	req := httptest.NewRequest(nethttp.MethodPost, "/v1/problems", bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// dirTree lists what is under dir, files with their sizes.
func dirTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		info, _ := d.Info()
		out = append(out, rel+" "+info.Mode().String()+" "+strconv.FormatInt(info.Size(), 10))
		return nil
	})
	return out
}

func TestProblemLifecycle(t *testing.T) {
	store, dir := problemStore(t)
	app := newProblemApp(t, store, 1<<20, config.Auth{})
	files := packageFiles(t)

	resp, body := do(t, app, postArchive("application/zip", zipArchive(t, files)))
	if resp.StatusCode != 201 {
		t.Fatalf("first upload: %d %s", resp.StatusCode, body)
	}
	var sum map[string]any
	if err := json.Unmarshal(body, &sum); err != nil {
		t.Fatal(err)
	}
	id, _ := sum["id"].(string)
	want := map[string]any{"id": id, "name": "A plus B", "type": "pass-fail", "tests": 3.0, "groups": 4.0,
		"validation": "custom", "time_limit": 1.5, "memory_limit": 128.0 * 1024}
	if !blob.Digest(id).Valid() || !reflect.DeepEqual(sum, want) {
		t.Fatalf("summary %v\nwant    %v", sum, want)
	}
	before := dirTree(t, dir)

	// The same package as a tar.gz: the same problem, nothing new stored.
	resp, body = do(t, app, postArchive("application/x-gzip", tgzArchive(t, files)))
	if resp.StatusCode != 200 || !strings.Contains(string(body), id) {
		t.Fatalf("second upload: %d %s", resp.StatusCode, body)
	}
	if after := dirTree(t, dir); !reflect.DeepEqual(before, after) {
		t.Fatalf("the second upload changed the store:\n%v\n%v", before, after)
	}

	resp, body = do(t, app, httptest.NewRequest("GET", "/v1/problems", nil))
	var list []map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(body, &list) != nil || len(list) != 1 || !reflect.DeepEqual(list[0], want) {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}

	for _, path := range []string{"/v1/problems/" + id, "/v1/problems/" + strings.Replace(id, ":", "%3A", 1)} {
		resp, body = do(t, app, httptest.NewRequest("GET", path, nil))
		var d struct {
			Name      string `json:"name"`
			TestCases []struct {
				Name, Group string
				Sample      bool
				InputSize   int64 `json:"input_size"`
			} `json:"test_cases"`
			TestGroups []struct {
				Name     string
				Settings map[string]any
			} `json:"test_groups"`
			Validator   struct{ Name, Language, Protocol string } `json:"validator"`
			OutputLimit int64                                     `json:"output_limit"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &d) != nil {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if len(d.TestCases) != 3 || d.TestCases[0].Name != "sample/1" || !d.TestCases[0].Sample || d.TestCases[1].Name != "secret/g1/1" ||
			d.TestCases[1].InputSize != 3*testBodyLimit || d.TestCases[2].Group != "secret/g2" {
			t.Errorf("tests %+v", d.TestCases)
		}
		if len(d.TestGroups) != 4 || d.TestGroups[3].Name != "secret/g2" || d.TestGroups[3].Settings["accept_score"] != 60.0 {
			t.Errorf("groups %+v", d.TestGroups)
		}
		if d.Validator.Language != "cpp" || d.Validator.Protocol != "kattis" || d.OutputLimit != 8*1024 {
			t.Errorf("validator %+v, output limit %d", d.Validator, d.OutputLimit)
		}
	}

	resp, body = do(t, app, httptest.NewRequest("DELETE", "/v1/problems/"+id, nil))
	if resp.StatusCode != 204 || len(body) != 0 {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	for _, method := range []string{"GET", "DELETE"} {
		resp, body = do(t, app, httptest.NewRequest(method, "/v1/problems/"+id, nil))
		wantError(t, resp, body, 404, "no problem", id)
	}
	resp, body = do(t, app, httptest.NewRequest("GET", "/v1/problems/../etc", nil))
	if resp.StatusCode != 404 && resp.StatusCode != 400 {
		t.Errorf("GET of a path-like id: %d", resp.StatusCode)
	}
	resp, body = do(t, app, httptest.NewRequest("GET", "/v1/problems/sha256:xyz", nil))
	wantError(t, resp, body, 400, "not a problem id")
	resp, body = do(t, app, httptest.NewRequest("GET", "/v1/problems", nil))
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("empty list: %d %s", resp.StatusCode, body)
	}
}

func TestProblemUploadRefusals(t *testing.T) {
	store, dir := problemStore(t)
	app := newProblemApp(t, store, 64<<10, config.Auth{})
	small := map[string]string{"problem.yaml": "name: x\n", "data/secret/1.in": "1\n", "data/secret/1.ans": "1\n"}
	empty := dirTree(t, dir)

	for _, ct := range []string{"", "application/json", "text/plain", "application/octet-stream"} {
		resp, body := do(t, app, postArchive(ct, zipArchive(t, small)))
		wantError(t, resp, body, 415, "application/zip")
	}
	req := postArchive("application/zip", zipArchive(t, small))
	req.Header.Set("Content-Encoding", "gzip")
	resp, body := do(t, app, req)
	wantError(t, resp, body, 415, "Content-Encoding")

	bad := map[string]string{"problem.yaml": "name: x\n", "data/secret/1.in": "1\n"}
	resp, body = do(t, app, postArchive("application/zip", zipArchive(t, bad)))
	wantError(t, resp, body, 400, "data/secret/1.in", "no answer file")
	resp, body = do(t, app, postArchive("application/zip", []byte("not an archive at all")))
	wantError(t, resp, body, 400, "not a zip")

	huge := packageFiles(t) // over the 64 KiB upload limit here
	resp, body = do(t, app, postArchive("application/zip", zipArchive(t, huge)))
	wantError(t, resp, body, 413, "max_upload_mib")
	if after := dirTree(t, dir); !reflect.DeepEqual(empty, after) {
		t.Fatalf("refused uploads changed the store:\n%v\n%v", empty, after)
	}
}

// Over a real socket: a chunked upload over the limit is cut off as it
// streams, and the client that sends it all reads the 413.
func TestProblemUploadTooLargeChunked(t *testing.T) {
	store, dir := problemStore(t)
	addr := listen(t, newProblemApp(t, store, 64<<10, config.Auth{}))
	empty := dirTree(t, dir)
	archive := zipArchive(t, packageFiles(t))
	for _, chunked := range []bool{true, false} {
		raw := rawRequest(archive, chunked, "")
		raw = bytes.Replace(raw, []byte("/v1/judge/judge-single"), []byte("/v1/problems"), 1)
		raw = bytes.Replace(raw, []byte("application/json"), []byte("application/zip"), 1)
		resp, body, _ := sendThenRead(t, addr, raw)
		wantError(t, resp, body, 413, "max_upload_mib")
	}
	if after := dirTree(t, dir); !reflect.DeepEqual(empty, after) {
		t.Fatalf("refused uploads changed the store:\n%v\n%v", empty, after)
	}
	// Under the limit, chunked, the package is stored.
	small := zipArchive(t, map[string]string{"problem.yaml": "name: x\n", "data/secret/1.in": "1\n", "data/secret/1.ans": "1\n"})
	raw := rawRequest(small, true, "")
	raw = bytes.Replace(raw, []byte("/v1/judge/judge-single"), []byte("/v1/problems"), 1)
	raw = bytes.Replace(raw, []byte("application/json"), []byte("application/zip"), 1)
	resp, body, _ := sendThenRead(t, addr, raw)
	if resp.StatusCode != 201 {
		t.Fatalf("chunked upload: %d %s", resp.StatusCode, body)
	}
}

func TestProblemsNeedTokenAndStore(t *testing.T) {
	store, _ := problemStore(t)
	app := newProblemApp(t, store, 0, config.Auth{Tokens: []string{"0123456789abcdef0123"}})
	resp, body := do(t, app, postArchive("application/zip", []byte("x")))
	wantError(t, resp, body, 401)
	resp, body = do(t, app, httptest.NewRequest("GET", "/v1/problems", nil))
	wantError(t, resp, body, 401)

	app = newProblemApp(t, nil, 0, config.Auth{})
	for _, req := range []*nethttp.Request{postArchive("application/zip", []byte("x")), httptest.NewRequest("GET", "/v1/problems", nil)} {
		resp, body = do(t, app, req)
		wantError(t, resp, body, 503, "not configured")
	}
}

// A handler's own 404 keeps its message; only an unknown route gets the
// generic one.
func TestNotFoundMessages(t *testing.T) {
	store, _ := problemStore(t)
	app := newProblemApp(t, store, 0, config.Auth{})
	resp, body := do(t, app, httptest.NewRequest("GET", "/v1/nope", nil))
	wantError(t, resp, body, 404, "no such endpoint: GET /v1/nope")
	id := blob.DigestOf([]byte("no such package")).String()
	resp, body = do(t, app, httptest.NewRequest("GET", "/v1/problems/"+id, nil))
	wantError(t, resp, body, 404, "no problem "+id)
}
