package problems

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pecan-judge/pecan/blob"
)

// entry is a file (or, with a mode, another kind of entry) of an archive
// built in a test.
type entry struct {
	name string
	body string
	// tarType, when set, is the tar entry type (links, devices).
	tarType byte
	link    string
	// zipMode, when set, is the zip entry's mode (symlinks).
	zipMode fs.FileMode
}

func files(kv ...string) []entry {
	var es []entry
	for i := 0; i+1 < len(kv); i += 2 {
		es = append(es, entry{name: kv[i], body: kv[i+1]})
	}
	return es
}

func zipOf(t testing.TB, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.zipMode != 0 {
			h.SetMode(e.zipMode)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tarOf(t testing.TB, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		switch {
		case e.tarType != 0:
			h.Typeflag, h.Linkname, h.Size = e.tarType, e.link, 0
		case strings.HasSuffix(e.name, "/"):
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipOf(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tgzOf(t testing.TB, es []entry) []byte { return gzipOf(t, tarOf(t, es)) }

// testStore is a problem store over its own blob store in a test dir.
type testStore struct {
	*Store
	dir   string
	blobs *blob.Store
	opt   Options
}

var testLanguages = map[string][]string{
	"c":      {".c"},
	"cpp":    {".cpp", ".cc"},
	"python": {".py"},
	"java":   {".java"},
}

func newTestStore(t *testing.T, opt Options) *testStore {
	t.Helper()
	if opt.Languages == nil {
		opt.Languages = testLanguages
	}
	ts := &testStore{dir: t.TempDir(), opt: opt}
	ts.open(t)
	t.Cleanup(func() { ts.blobs.Close() })
	return ts
}

func (ts *testStore) open(t *testing.T) {
	t.Helper()
	b, err := blob.Open(filepath.Join(ts.dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(filepath.Join(ts.dir, "problems"), b, ts.opt)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	ts.Store, ts.blobs = s, b
}

// reopen is a restart: a new blob store and problem store on the same
// directories.
func (ts *testStore) reopen(t *testing.T) {
	t.Helper()
	if err := ts.blobs.Close(); err != nil {
		t.Fatal(err)
	}
	ts.open(t)
}

func (ts *testStore) add(t *testing.T, archive []byte, contentType string) (*Problem, bool) {
	t.Helper()
	p, created, err := ts.Add(bytes.NewReader(archive), contentType)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return p, created
}

// tree lists every file and directory under the store's directory with
// the size of files: what a refused upload must leave as it was.
func (ts *testStore) tree(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(ts.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(ts.dir, p)
		if d.IsDir() {
			out = append(out, rel+"/")
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, rel+" "+strconv.FormatInt(fi.Size(), 10))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// blobCount is the number of blobs stored.
func (ts *testStore) blobCount(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(ts.dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func wantBad(t *testing.T, err error, parts ...string) {
	t.Helper()
	if _, ok := err.(*BadPackageError); !ok {
		t.Fatalf("want a *BadPackageError, got %T: %v", err, err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func sameTree(t *testing.T, before, after []string) {
	t.Helper()
	if !reflect.DeepEqual(before, after) {
		t.Errorf("the store changed:\nbefore %v\nafter  %v", before, after)
	}
}
