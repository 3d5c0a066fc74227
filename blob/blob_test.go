package blob

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func wantDigest(b []byte) Digest {
	sum := sha256.Sum256(b)
	return Digest("sha256:" + hex.EncodeToString(sum[:]))
}

// blobFiles lists the files under the store's blob and tmp directories.
func blobFiles(t *testing.T, s *Store) []string {
	t.Helper()
	var names []string
	for _, d := range []string{s.blobDir(), s.tmpDir()} {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			names = append(names, filepath.Join(filepath.Base(d), e.Name()))
		}
	}
	return names
}

func TestPutOpenReadOnly(t *testing.T) {
	s := openStore(t)
	data := []byte("1 2\n3\n")
	d, n, err := s.Put(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if d != wantDigest(data) || n != int64(len(data)) {
		t.Fatalf("Put = %s, %d; want %s, %d", d, n, wantDigest(data), len(data))
	}
	if d != DigestOf(data) {
		t.Fatalf("DigestOf = %s, want %s", DigestOf(data), d)
	}
	f, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %q, %v; want %q", got, err, data)
	}
	fi, err := os.Stat(s.path(d))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o444 {
		t.Fatalf("blob mode %o, want 0444", perm)
	}
	if !s.Has(d) {
		t.Fatal("Has = false after Put")
	}
	if size, err := s.Size(d); err != nil || size != int64(len(data)) {
		t.Fatalf("Size = %d, %v", size, err)
	}
	if files := blobFiles(t, s); len(files) != 1 {
		t.Fatalf("files after one Put: %v", files)
	}
}

func TestPutTwiceStoresOnce(t *testing.T) {
	s := openStore(t)
	d1, _, created1, err := s.PutNew(strings.NewReader("same bytes"))
	if err != nil {
		t.Fatal(err)
	}
	fi1, _ := os.Stat(s.path(d1))
	d2, _, created2, err := s.PutNew(strings.NewReader("same bytes"))
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 || !created1 || created2 {
		t.Fatalf("digests %s %s, created %v %v; want equal digests, created only the first time", d1, d2, created1, created2)
	}
	fi2, _ := os.Stat(s.path(d2))
	if !os.SameFile(fi1, fi2) {
		t.Fatal("the second Put replaced the stored file")
	}
	if files := blobFiles(t, s); len(files) != 1 {
		t.Fatalf("files after two Puts of the same bytes: %v", files)
	}
}

func TestConcurrentPutsOfTheSameBytes(t *testing.T) {
	s := openStore(t)
	data := bytes.Repeat([]byte("abc\n"), 1<<14)
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, _, c, err := s.PutNew(bytes.NewReader(data))
			if err != nil || d != wantDigest(data) {
				t.Errorf("PutNew = %s, %v", d, err)
			}
			if c {
				mu.Lock()
				created++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if created != 1 {
		t.Errorf("%d Puts reported creating the blob, want 1", created)
	}
	if files := blobFiles(t, s); len(files) != 1 {
		t.Fatalf("files: %v", files)
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("connection reset")
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

func TestFailedPutLeavesNothing(t *testing.T) {
	s := openStore(t)
	if _, _, err := s.Put(&failingReader{n: 1000}); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("Put from a failing reader: %v", err)
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Fatalf("a failed Put left %v", files)
	}
}

func TestMalformedDigestsAreNeverPaths(t *testing.T) {
	s := openStore(t)
	// A file a path-like digest could reach if it were joined to the dir.
	if err := os.WriteFile(filepath.Join(s.Dir(), "secret"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := []string{
		"", "sha256:", "sha256:../secret", "../secret", "sha256:" + strings.Repeat("A", 64),
		"sha256:" + strings.Repeat("a", 63), "sha256:" + strings.Repeat("a", 65), "md5:" + strings.Repeat("a", 32),
		"sha256:" + strings.Repeat("a", 62) + "/x",
	}
	for _, b := range bad {
		d := Digest(b)
		if d.Valid() {
			t.Errorf("%q is Valid", d)
		}
		if f, err := s.Open(d); err == nil {
			f.Close()
			t.Errorf("Open(%q) succeeded", d)
		}
		if s.Has(d) {
			t.Errorf("Has(%q) = true", d)
		}
		if _, err := s.Size(d); err == nil {
			t.Errorf("Size(%q) succeeded", d)
		}
		if err := s.Remove(d); err == nil {
			t.Errorf("Remove(%q) succeeded", d)
		}
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "secret")); err != nil {
		t.Fatalf("a malformed digest reached a file: %v", err)
	}
}

func TestMissingAndRemove(t *testing.T) {
	s := openStore(t)
	d := DigestOf([]byte("never stored"))
	if _, err := s.Open(d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open of a missing blob: %v, want ErrNotFound", err)
	}
	if _, err := s.Size(d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Size of a missing blob: %v, want ErrNotFound", err)
	}
	if err := s.Remove(d); err != nil {
		t.Fatalf("Remove of a missing blob: %v", err)
	}
	d, _, err := s.Put(strings.NewReader("to remove"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := s.Remove(d); err != nil {
		t.Fatal(err)
	}
	if s.Has(d) {
		t.Fatal("Has after Remove")
	}
	// An open reader keeps its bytes.
	if got, err := io.ReadAll(f); err != nil || string(got) != "to remove" {
		t.Fatalf("reading a removed blob that was open: %q, %v", got, err)
	}
}

func TestDamagedBlobIsReplaced(t *testing.T) {
	s := openStore(t)
	d, _, err := s.Put(strings.NewReader("full content"))
	if err != nil {
		t.Fatal(err)
	}
	// Damage outside the store: truncated.
	if err := os.Chmod(s.path(d), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.path(d), []byte("full"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Put(strings.NewReader("full content")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(s.path(d))
	if err != nil || string(got) != "full content" {
		t.Fatalf("after re-Put: %q, %v", got, err)
	}
}

func TestOpenLocksAndCleansTemporaries(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open of a locked store: %v", err)
	}
	d, _, err := s.Put(strings.NewReader("kept"))
	if err != nil {
		t.Fatal(err)
	}
	// A crash mid-Put leaves a temporary file.
	if err := os.WriteFile(filepath.Join(s.tmpDir(), "put-123"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	defer s.Close()
	if !s.Has(d) {
		t.Fatal("a stored blob did not survive reopening")
	}
	if files := blobFiles(t, s); len(files) != 1 {
		t.Fatalf("after reopening: %v, want only the blob", files)
	}
}

func TestParseDigest(t *testing.T) {
	good := "sha256:" + strings.Repeat("0123456789abcdef", 4)
	d, err := ParseDigest(good)
	if err != nil || string(d) != good || d.Hex() != strings.Repeat("0123456789abcdef", 4) {
		t.Fatalf("ParseDigest(%q) = %q, %v", good, d, err)
	}
}
