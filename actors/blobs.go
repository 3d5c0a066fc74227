package actors

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pecan-judge/pecan/blob"
	"github.com/pecan-judge/pecan/messages"
	"github.com/pecan-judge/pecan/problems"
)

// BlobServerName is the id of a node's blob server in a cluster: members
// fetch test data, problem manifests and compiled programs from
// PID{Address: node, Id: BlobServerName}.
const BlobServerName = "pecan-blobs"

// Bounds of a blob transfer: the bytes of one chunk (well under gRPC's
// message limit), and how long a member waits for one.
const (
	blobChunkBytes   = 1 << 20
	blobChunkTimeout = 30 * time.Second
)

// blobServer answers members' BlobRequests from this node's problem
// store, compile cache and the manifests of the problems it sent work
// for. Blobs are named by digest, so a member can verify what it gets.
type blobServer struct{ pool *poolShared }

func (b *blobServer) Receive(ctx actor.Context) {
	m, ok := ctx.Message().(*messages.BlobRequest)
	if !ok || ctx.Sender() == nil {
		return
	}
	ctx.Respond(b.chunk(m))
}

func (b *blobServer) chunk(m *messages.BlobRequest) *messages.BlobChunk {
	out := &messages.BlobChunk{Digest: m.GetDigest(), Offset: m.GetOffset()}
	d, err := blob.ParseDigest(m.GetDigest())
	if err != nil || m.GetOffset() < 0 {
		out.Error = "malformed blob request"
		return out
	}
	n := int(m.GetMaxBytes())
	if n <= 0 || n > blobChunkBytes {
		n = blobChunkBytes
	}
	if man, ok := b.pool.manifests.get(d); ok {
		end := min(int64(len(man)), m.GetOffset()+int64(n))
		if m.GetOffset() < int64(len(man)) {
			out.Data = man[m.GetOffset():end]
		}
		out.Eof = end >= int64(len(man))
		return out
	}
	r, err := b.open(d)
	if err != nil {
		out.Error = fmt.Sprintf("no blob %s here", d)
		return out
	}
	defer r.Close()
	if _, err := r.Seek(m.GetOffset(), io.SeekStart); err != nil {
		out.Error = fmt.Sprintf("blob %s: %v", d, err)
		return out
	}
	buf := make([]byte, n)
	k, err := io.ReadFull(r, buf)
	out.Data = buf[:k]
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		out.Eof = true
	case err != nil:
		out.Error = fmt.Sprintf("blob %s: %v", d, err)
	}
	return out
}

// open opens d from the problem store or the compile cache.
func (b *blobServer) open(d blob.Digest) (io.ReadSeekCloser, error) {
	if p := b.pool.job.Problems; p != nil {
		if r, err := p.Open(d); err == nil {
			if rs, ok := r.(io.ReadSeekCloser); ok {
				return rs, nil
			}
			r.Close()
		}
	}
	if c := b.pool.job.artifacts; c != nil {
		return c.Open(d)
	}
	return nil, blob.ErrNotFound
}

// fetcher fetches blobs by digest from another member's blob server, in
// chunks, and verifies them.
type fetcher struct {
	root    *actor.RootContext
	fetched func(n int) // counts the bytes
}

// fetch streams the blob d from the node at origin into w and fails
// unless its bytes have digest d.
func (f *fetcher) fetch(ctx context.Context, origin string, d blob.Digest, w io.Writer) error {
	if f == nil || origin == "" {
		return fmt.Errorf("blob %s: not here, and no member to fetch it from", d)
	}
	pid := actor.NewPID(origin, BlobServerName)
	h := sha256.New()
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := f.root.RequestFuture(pid, &messages.BlobRequest{Digest: d.String(), Offset: off, MaxBytes: blobChunkBytes}, blobChunkTimeout).Result()
		if err != nil {
			return fmt.Errorf("fetch %s from %s: %w", d, origin, err)
		}
		c, ok := res.(*messages.BlobChunk)
		switch {
		case !ok:
			return fmt.Errorf("fetch %s from %s: unexpected answer %T", d, origin, res)
		case c.GetError() != "":
			return fmt.Errorf("fetch %s from %s: %s", d, origin, c.GetError())
		case c.GetOffset() != off || c.GetDigest() != d.String():
			return fmt.Errorf("fetch %s from %s: answer for another chunk", d, origin)
		}
		h.Write(c.GetData())
		if _, err := w.Write(c.GetData()); err != nil {
			return err
		}
		off += int64(len(c.GetData()))
		f.fetched(len(c.GetData()))
		if c.GetEof() {
			break
		}
		if len(c.GetData()) == 0 {
			return fmt.Errorf("fetch %s from %s: empty chunk before the end", d, origin)
		}
	}
	if got := digestOf(h); got != d {
		return fmt.Errorf("fetch %s from %s: the bytes have digest %s", d, origin, got)
	}
	return nil
}

func digestOf(h hash.Hash) blob.Digest {
	return blob.Digest("sha256:" + hex.EncodeToString(h.Sum(nil)))
}

// fetchToCache puts the blob d, fetched from origin, into the compile
// cache (under its own digest), unless it is there already. What fails
// verification is never stored: the cache computes the digest of what
// it is given, and a mismatch is refused before it is named.
func (c JobConfig) fetchToCache(ctx context.Context, origin string, d blob.Digest) error {
	if c.artifacts == nil {
		return errors.New("this node keeps no cache for blobs from members")
	}
	if c.artifacts.Has(d) {
		return nil
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(c.fetch.fetch(ctx, origin, d, pw)) }()
	got, err := c.artifacts.Put(d, pr)
	pr.CloseWithError(errors.New("done"))
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	if got != d {
		return fmt.Errorf("blob %s: stored bytes have digest %s", d, got)
	}
	return nil
}

// memberProblems is the problem store as a member sees it for a step
// sent by origin: its own problems, else the manifest and files fetched
// from origin into the compile cache.
type memberProblems struct {
	ctx      context.Context
	cfg      JobConfig
	origin   string
	manifest blob.Digest
}

func (m memberProblems) Problem(id string) (*problems.Problem, error) {
	if local := m.cfg.Problems; local != nil {
		if p, err := local.Problem(id); err == nil {
			return p, nil
		}
	}
	if !m.manifest.Valid() {
		return nil, fmt.Errorf("%w here, and no manifest to fetch", problems.ErrNotFound)
	}
	if p, ok := m.cfg.remoteProblems.get(m.manifest); ok && p.ID == id {
		return p, nil
	}
	if err := m.cfg.fetchToCache(m.ctx, m.origin, m.manifest); err != nil {
		return nil, err
	}
	f, err := m.cfg.artifacts.Open(m.manifest)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var p problems.Problem
	if err := json.NewDecoder(io.LimitReader(f, manifestMaxBytes)).Decode(&p); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", m.manifest, err)
	}
	if p.ID != id {
		return nil, fmt.Errorf("manifest %s is of problem %s, not %s", m.manifest, p.ID, id)
	}
	m.cfg.remoteProblems.put(m.manifest, &p)
	return &p, nil
}

func (m memberProblems) Open(d blob.Digest) (io.ReadCloser, error) {
	if local := m.cfg.Problems; local != nil {
		if r, err := local.Open(d); err == nil {
			return r, nil
		}
	}
	if err := m.cfg.fetchToCache(m.ctx, m.origin, d); err != nil {
		return nil, err
	}
	return m.cfg.artifacts.Open(d)
}

// manifestMaxBytes bounds a problem manifest read from a member.
const manifestMaxBytes = 64 << 20

// manifests keeps the manifests of the problems this node's submissions
// used lately, by their digest, for members to fetch.
type manifests struct {
	mu    sync.Mutex
	max   int
	order *list.List // of blob.Digest, most recent first
	items map[blob.Digest]*list.Element
	data  map[blob.Digest][]byte
}

func newManifests(max int) *manifests {
	return &manifests{max: max, order: list.New(), items: map[blob.Digest]*list.Element{}, data: map[blob.Digest][]byte{}}
}

// add records p's manifest and returns its digest.
func (m *manifests) add(p *problems.Problem) (blob.Digest, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("manifest of %s: %w", p.ID, err)
	}
	d := blob.DigestOf(b)
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.items[d]; ok {
		m.order.MoveToFront(e)
		return d, nil
	}
	m.items[d] = m.order.PushFront(d)
	m.data[d] = b
	for m.order.Len() > m.max {
		last := m.order.Back()
		m.order.Remove(last)
		delete(m.items, last.Value.(blob.Digest))
		delete(m.data, last.Value.(blob.Digest))
	}
	return d, nil
}

func (m *manifests) get(d blob.Digest) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.data[d]
	return b, ok
}

// problemCache keeps the problems a member fetched, by manifest digest.
type problemCache struct {
	mu    sync.Mutex
	max   int
	order *list.List
	items map[blob.Digest]*list.Element
	byKey map[blob.Digest]*problems.Problem
}

func newProblemCache(max int) *problemCache {
	return &problemCache{max: max, order: list.New(), items: map[blob.Digest]*list.Element{}, byKey: map[blob.Digest]*problems.Problem{}}
}

func (c *problemCache) get(d blob.Digest) (*problems.Problem, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[d]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return c.byKey[d], true
}

func (c *problemCache) put(d blob.Digest, p *problems.Problem) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[d]; ok {
		return
	}
	c.items[d] = c.order.PushFront(d)
	c.byKey[d] = p
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(blob.Digest))
		delete(c.byKey, last.Value.(blob.Digest))
	}
}
