package actors

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pecan-judge/pecan/blob"
)

// memProblems is a problem store of blobs only.
type memProblems struct {
	Problems
	blobs map[blob.Digest][]byte
}

func (m memProblems) Open(d blob.Digest) (io.ReadCloser, error) {
	b, ok := m.blobs[d]
	if !ok {
		return nil, blob.ErrNotFound
	}
	return nopSeekCloser{bytes.NewReader(b)}, nil
}

type nopSeekCloser struct{ *bytes.Reader }

func (nopSeekCloser) Close() error { return nil }

// TestFetchBlobFromMember fetches a blob of three chunks and a half from
// a blob server, verified; an unknown digest is an error.
func TestFetchBlobFromMember(t *testing.T) {
	system := NewActorSystem(testLogger())
	defer system.Shutdown()
	data := bytes.Repeat([]byte("pecan!"), (3*blobChunkBytes+blobChunkBytes/2)/6)
	d := blob.DigestOf(data)
	// A member that serves other bytes than their name says.
	forged := blob.DigestOf([]byte("forged"))
	blobs := map[blob.Digest][]byte{d: data, forged: []byte("not forged")}
	shared := &poolShared{job: JobConfig{Problems: memProblems{blobs: blobs}}, manifests: newManifests(4), stats: &poolStats{}}
	if _, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &blobServer{pool: shared} }), BlobServerName); err != nil {
		t.Fatal(err)
	}
	var fetched int
	f := &fetcher{root: system.Root, fetched: func(n int) { fetched += n }}
	var got bytes.Buffer
	if err := f.fetch(context.Background(), system.Address(), d, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) || fetched != len(data) {
		t.Errorf("fetched %d bytes (counted %d), want %d", got.Len(), fetched, len(data))
	}
	err := f.fetch(context.Background(), system.Address(), blob.DigestOf([]byte("other")), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no blob") {
		t.Errorf("unknown blob: %v", err)
	}

	// Into a member's cache: what is stored is what was asked for.
	cache, err := blob.OpenCache(t.TempDir(), 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	cfg := JobConfig{artifacts: cache, fetch: f}
	if err := cfg.fetchToCache(context.Background(), system.Address(), d); err != nil {
		t.Fatal(err)
	}
	if !cache.Has(d) {
		t.Error("fetched blob not cached")
	}
	if err := cfg.fetchToCache(context.Background(), system.Address(), forged); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("forged blob: %v, want a digest mismatch", err)
	}
	if cache.Has(forged) || cache.Has(blob.DigestOf([]byte("not forged"))) {
		t.Error("a forged blob was cached")
	}
}
