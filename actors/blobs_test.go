package actors

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pecan-judge/pecan/blob"
	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/judge"
	"github.com/pecan-judge/pecan/messages"
	"github.com/pecan-judge/pecan/problems"
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

// storedProblem is a problem store of one problem.
type storedProblem struct {
	p     *problems.Problem
	blobs map[blob.Digest][]byte
}

func (s storedProblem) Problem(id string) (*problems.Problem, error) {
	if id != s.p.ID {
		return nil, problems.ErrNotFound
	}
	return s.p, nil
}

func (s storedProblem) Open(d blob.Digest) (io.ReadCloser, error) {
	return memProblems{blobs: s.blobs}.Open(d)
}

// echoProblem is a pass-fail problem of n tests whose answers are their
// inputs (the fake toolchain's "stdin" program passes it).
func echoProblem(n int) storedProblem {
	sp := storedProblem{p: &problems.Problem{ID: blob.DigestOf([]byte("echo problem")).String(), Name: "Echo", Type: problems.TypePassFail}, blobs: map[blob.Digest][]byte{}}
	for i := range n {
		in := []byte(fmt.Sprintf("%d\n", i))
		d := blob.DigestOf(in)
		sp.blobs[d] = in
		sp.p.Tests = append(sp.p.Tests, problems.Test{Name: fmt.Sprintf("secret/%d", i), Group: "secret", Input: d, Answer: d})
	}
	return sp
}

// TestSubmissionOnMembers: a problem stored on node A only, judged on A
// with its tests on A and B: B fetches the problem's manifest, the test
// data and the program from A, and every test is Accepted.
func TestSubmissionOnMembers(t *testing.T) {
	addrs := clusterPorts(t, 2)
	sp := echoProblem(6)
	withCache := func(problems Problems) func(*Options) {
		return func(o *Options) {
			cache, err := blob.OpenCache(t.TempDir(), 64<<20)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cache.Close() })
			o.Artifacts, o.MaxParallelTests, o.Problems = cache, 4, problems
		}
	}
	run := slowProgram(50 * time.Millisecond)
	a := startMemberWith(t, addrs[0], addrs, run, config.TLS{}, withCache(sp))
	b := startMemberWith(t, addrs[1], addrs, run, config.TLS{}, withCache(nil))
	waitMembers(t, a, 2)
	waitMembers(t, b, 2)

	req := request("c", "stdin", "")
	req.Submission = &messages.Submission{ProblemId: sp.p.ID, Mode: judge.ModeAll}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := a.pool.Execute(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]int{}
	for _, tr := range resp.Tests {
		ran[tr.Node]++
	}
	if judge.Verdict(resp.Code) != judge.Accepted || len(resp.Tests) != 6 {
		t.Fatalf("answer %s %q %v", resp.Status, resp.Error, verdicts(resp))
	}
	if ran[addrs[0]] == 0 || ran[addrs[1]] == 0 {
		t.Errorf("tests ran on %v, want both members", ran)
	}
	if st := status(t, b.pool); st.FetchedBytes == 0 {
		t.Error("member B fetched nothing from A")
	}
	if n := b.pool.Compiles()["c"]; n != 0 {
		t.Errorf("member B compiled %d times; the program is A's", n)
	}
}
