package blob

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func key(s string) Digest { return DigestOf([]byte("key:" + s)) }

func get(t *testing.T, c *Cache, k string) (string, bool) {
	t.Helper()
	d, ok := c.Get(key(k))
	if !ok {
		return "", false
	}
	f, err := c.Open(d)
	if err != nil {
		t.Fatalf("open %s: %v", k, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

func TestCacheEvictsTheLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir, 25)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b"} {
		if _, err := c.Put(key(k), strings.NewReader(strings.Repeat(k, 10))); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := get(t, c, "a"); !ok { // a is now more recent than b
		t.Fatal("a missing")
	}
	if _, err := c.Put(key("c"), strings.NewReader(strings.Repeat("c", 10))); err != nil {
		t.Fatal(err)
	}
	if _, ok := get(t, c, "b"); ok {
		t.Error("b, the least recently used, was kept past the bound")
	}
	if v, ok := get(t, c, "a"); !ok || v != strings.Repeat("a", 10) {
		t.Errorf("a = %q, %v", v, ok)
	}
	if c.Bytes() != 20 {
		t.Errorf("bytes = %d, want 20", c.Bytes())
	}
	if c.Hits() != 2 || c.Misses() != 1 {
		t.Errorf("hits %d misses %d, want 2 and 1", c.Hits(), c.Misses())
	}
	c.Close()

	// The entries and their order survive a restart.
	c, err = OpenCache(dir, 25)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := get(t, c, "c"); !ok {
		t.Error("c lost in the restart")
	}
	if _, ok := get(t, c, "b"); ok {
		t.Error("b came back")
	}
}

func TestCacheKeepsPinnedBlobs(t *testing.T) {
	c, err := OpenCache(t.TempDir(), 15)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, err := c.Put(key("a"), bytes.NewReader(make([]byte, 10)))
	if err != nil {
		t.Fatal(err)
	}
	c.Pin(d)
	if _, err := c.Put(key("b"), bytes.NewReader(make([]byte, 9))); err != nil {
		t.Fatal(err)
	}
	if f, err := c.Open(d); err != nil {
		t.Fatalf("a pinned blob was removed: %v", err)
	} else {
		f.Close()
	}
	c.Unpin(d)
	if _, ok := c.Get(key("a")); ok {
		t.Error("a still cached past the bound once unpinned")
	}
	if _, err := c.Put(key("huge"), bytes.NewReader(make([]byte, 16))); err == nil {
		t.Error("a blob larger than the cache was taken")
	}
}

func TestCacheBlobsAreReadOnly(t *testing.T) {
	c, err := OpenCache(t.TempDir(), 100)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, err := c.Put(key("a"), strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if fi.Mode().Perm()&0o222 != 0 {
		t.Errorf("cached blob mode %v is writable", fi.Mode())
	}
}

// TestCachePutTwiceAtOnce: two identical compiles storing the same
// program under the same key leave one entry whose blob is there.
func TestCachePutTwiceAtOnce(t *testing.T) {
	c, err := OpenCache(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan Digest, 8)
	for range 8 {
		go func() {
			d, err := c.Put(key("same"), strings.NewReader("program"))
			if err != nil {
				t.Error(err)
			}
			done <- d
		}()
	}
	for range 8 {
		<-done
	}
	if v, ok := get(t, c, "same"); !ok || v != "program" {
		t.Errorf("after 8 puts at once: %q, %v", v, ok)
	}
	if c.Bytes() != int64(len("program")) {
		t.Errorf("bytes = %d, want %d", c.Bytes(), len("program"))
	}
}
