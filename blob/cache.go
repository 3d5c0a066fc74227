package blob

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Cache is a store of blobs found by key (compiled artifacts, found by
// what was compiled and how), bounded in bytes: past its bound the least
// recently used entries are removed. Its blobs are a Store of their own,
// so nothing else's garbage collection touches them, and they are
// read-only files like every blob.
//
// Layout: blobs/ is the Store, keys/<key hex> holds the digest a key
// names; a key file's modification time is when it was last used, so the
// order survives restarts.
type Cache struct {
	store    *Store
	keysDir  string
	maxBytes int64

	mu      sync.Mutex
	order   *list.List               // of *cacheEntry, most recent first
	entries map[Digest]*list.Element // by key
	refs    map[Digest]int           // keys naming each blob
	pinned  map[Digest]int           // blobs in use, never evicted
	bytes   int64                    // of distinct blobs

	hits, misses atomic.Int64
}

type cacheEntry struct {
	key, blob Digest
	size      int64
}

// OpenCache opens (creating it if needed) the cache in dir, at most
// maxBytes of blobs. Blobs no key names are removed.
func OpenCache(dir string, maxBytes int64) (*Cache, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("blob cache %s: size must be positive, got %d", dir, maxBytes)
	}
	store, err := Open(filepath.Join(dir, "blobs"))
	if err != nil {
		return nil, err
	}
	c := &Cache{
		store: store, keysDir: filepath.Join(dir, "keys"), maxBytes: maxBytes,
		order: list.New(), entries: map[Digest]*list.Element{}, refs: map[Digest]int{}, pinned: map[Digest]int{},
	}
	if err := c.load(); err != nil {
		store.Close()
		return nil, err
	}
	return c, nil
}

// load reads the keys, oldest use last, and drops what is dangling.
func (c *Cache) load() error {
	if err := os.MkdirAll(c.keysDir, 0o755); err != nil {
		return fmt.Errorf("blob cache: %w", err)
	}
	names, err := os.ReadDir(c.keysDir)
	if err != nil {
		return fmt.Errorf("blob cache: %w", err)
	}
	type found struct {
		e    cacheEntry
		used time.Time
	}
	var all []found
	for _, n := range names {
		key := Digest(digestPrefix + n.Name())
		e, used, ok := c.readKey(key)
		if !ok {
			os.Remove(filepath.Join(c.keysDir, n.Name()))
			continue
		}
		all = append(all, found{e, used})
	}
	sort.Slice(all, func(i, k int) bool { return all[i].used.After(all[k].used) })
	for _, f := range all {
		c.add(f.e)
	}
	if err := c.removeUnnamed(); err != nil {
		return err
	}
	c.evict()
	return nil
}

// readKey is the entry of a key file, if it names a blob the store holds.
func (c *Cache) readKey(key Digest) (cacheEntry, time.Time, bool) {
	if !key.Valid() {
		return cacheEntry{}, time.Time{}, false
	}
	p := c.keyPath(key)
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return cacheEntry{}, time.Time{}, false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return cacheEntry{}, time.Time{}, false
	}
	d, err := ParseDigest(strings.TrimSpace(string(b)))
	if err != nil {
		return cacheEntry{}, time.Time{}, false
	}
	size, err := c.store.Size(d)
	if err != nil {
		return cacheEntry{}, time.Time{}, false
	}
	return cacheEntry{key: key, blob: d, size: size}, fi.ModTime(), true
}

func (c *Cache) removeUnnamed() error {
	names, err := os.ReadDir(c.store.blobDir())
	if err != nil {
		return fmt.Errorf("blob cache: %w", err)
	}
	for _, n := range names {
		d := Digest(digestPrefix + n.Name())
		if c.refs[d] == 0 {
			if err := os.Remove(filepath.Join(c.store.blobDir(), n.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("blob cache: remove an unnamed blob: %w", err)
			}
		}
	}
	return nil
}

// Close releases the cache's store.
func (c *Cache) Close() error { return c.store.Close() }

func (c *Cache) keyPath(key Digest) string { return filepath.Join(c.keysDir, key.Hex()) }

// Get is the blob key names, counting a hit or a miss; a hit makes the
// entry the most recently used.
func (c *Cache) Get(key Digest) (Digest, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		c.misses.Add(1)
		return "", false
	}
	c.hits.Add(1)
	c.order.MoveToFront(el)
	now := time.Now()
	// The order on disk is best effort: a failed touch only ages the
	// entry after a restart.
	_ = os.Chtimes(c.keyPath(key), now, now)
	return el.Value.(*cacheEntry).blob, true
}

// Put stores what r yields under key and returns its digest; entries
// past the bound are evicted, least recently used first. A blob larger
// than the whole cache is refused.
func (c *Cache) Put(key Digest, r io.Reader) (Digest, error) {
	if !key.Valid() {
		return "", fmt.Errorf("blob cache put: malformed key %q", key)
	}
	d, size, _, err := c.store.PutNew(r)
	if err != nil {
		return "", err
	}
	if size > c.maxBytes {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.refs[d] == 0 && c.pinned[d] == 0 {
			c.store.Remove(d)
		}
		return "", fmt.Errorf("blob cache put: %d bytes, over the cache's %d", size, c.maxBytes)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		if el.Value.(*cacheEntry).blob == d {
			// Put twice at once (two identical compiles): one entry.
			c.order.MoveToFront(el)
			return d, nil
		}
		c.drop(el)
	}
	if !c.store.Has(d) {
		// Evicted, under another key, between the write and now.
		return "", fmt.Errorf("blob cache put %s: evicted while it was stored; try again", d)
	}
	if err := writeFileAtomic(c.keyPath(key), c.store.tmpDir(), []byte(d.String()+"\n")); err != nil {
		if c.refs[d] == 0 && c.pinned[d] == 0 {
			c.store.Remove(d)
		}
		return "", fmt.Errorf("blob cache put: %w", err)
	}
	c.add(cacheEntry{key: key, blob: d, size: size})
	c.evict()
	return d, nil
}

// Open opens a blob of the cache by its digest (a Get's answer); the
// error wraps ErrNotFound for one it does not hold.
func (c *Cache) Open(d Digest) (*os.File, error) { return c.store.Open(d) }

// Has reports whether the cache holds the blob d.
func (c *Cache) Has(d Digest) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refs[d] > 0
}

// Pin keeps d from eviction until as many Unpin calls; the entries
// naming it still count in the cache's bytes.
func (c *Cache) Pin(d Digest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pinned[d]++
}

// Unpin undoes one Pin.
func (c *Cache) Unpin(d Digest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pinned[d]--; c.pinned[d] > 0 {
		return
	}
	delete(c.pinned, d)
	if c.refs[d] == 0 {
		// Evicted while in use: it goes now.
		c.store.Remove(d)
	}
	c.evict()
}

// Bytes is the size of the blobs the cache holds.
func (c *Cache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// Hits and Misses count Get's answers since the cache was opened.
func (c *Cache) Hits() int64   { return c.hits.Load() }
func (c *Cache) Misses() int64 { return c.misses.Load() }

// add records e as the most recently used entry; c.mu is held.
func (c *Cache) add(e cacheEntry) {
	c.entries[e.key] = c.order.PushFront(&e)
	if c.refs[e.blob] == 0 {
		c.bytes += e.size
	}
	c.refs[e.blob]++
}

// drop forgets an entry, and removes its blob when no other key names it
// and nobody uses it; c.mu is held.
func (c *Cache) drop(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.order.Remove(el)
	delete(c.entries, e.key)
	os.Remove(c.keyPath(e.key))
	if c.refs[e.blob]--; c.refs[e.blob] > 0 {
		return
	}
	delete(c.refs, e.blob)
	c.bytes -= e.size
	if c.pinned[e.blob] == 0 {
		c.store.Remove(e.blob)
	}
}

// evict drops the least recently used entries whose blobs are not pinned
// until the cache is within its bound; c.mu is held. The most recent
// entry stays: it is what a Put just returned.
func (c *Cache) evict() {
	for el := c.order.Back(); el != nil && el != c.order.Front() && c.bytes > c.maxBytes; {
		prev := el.Prev()
		if c.pinned[el.Value.(*cacheEntry).blob] == 0 {
			c.drop(el)
		}
		el = prev
	}
}

// writeFileAtomic writes b to path through a temporary file in tmpDir,
// so a reader sees the old content or the new, never part.
func writeFileAtomic(path, tmpDir string, b []byte) error {
	tmp, err := os.CreateTemp(tmpDir, "key-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
