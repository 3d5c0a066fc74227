// Package fake is an in-memory backends.Backend for unit tests of the
// actors. It isolates nothing and runs nothing: every Run is answered by a
// programmable hook. It exists ONLY so the pool, router and sandbox actors
// can be tested without a real sandbox; never configure it in a server.
package fake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/pecan-judge/pecan/backends"
)

// RunFunc answers one Run. files is a copy of the work directory at the
// time of the call (name -> content), so a hook can look at the source.
type RunFunc func(ctx context.Context, sb *Sandbox, spec backends.RunSpec, files map[string][]byte) (backends.RunResult, error)

// Counts are how often each operation was called, for assertions.
type Counts struct {
	New, NewFailed, Run, Reset, Destroy int
	// Live is the number of sandboxes built and not yet destroyed.
	Live int
}

// Backend makes fake sandboxes. Its hooks may be changed at any time;
// all methods are safe for concurrent use.
type Backend struct {
	mu        sync.Mutex
	run       RunFunc
	newErr    func(id string) error
	resetErr  func(sb *Sandbox) error
	counts    Counts
	sandboxes []*Sandbox
}

var _ backends.Backend = (*Backend)(nil)

// New returns a backend whose sandboxes answer Run with run. A nil run
// answers every run with a clean exit and empty output.
func New(run RunFunc) *Backend {
	return &Backend{run: run}
}

// SetRun replaces the Run hook.
func (b *Backend) SetRun(run RunFunc) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.run = run
}

// SetNewError makes New fail whenever f returns an error (nil f: never).
func (b *Backend) SetNewError(f func(id string) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.newErr = f
}

// SetResetError makes Reset fail whenever f returns an error (nil f:
// never). The error is wrapped in backends.ErrBroken, as a real backend
// reports a reset it could not finish.
func (b *Backend) SetResetError(f func(sb *Sandbox) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.resetErr = f
}

// Counts returns a snapshot of the call counters.
func (b *Backend) Counts() Counts {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.counts
	c.Live = 0
	for _, s := range b.sandboxes {
		if !s.destroyed {
			c.Live++
		}
	}
	return c
}

// Sandboxes returns every sandbox built so far, sorted by id.
func (b *Backend) Sandboxes() []*Sandbox {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := append([]*Sandbox(nil), b.sandboxes...)
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// Name implements backends.Backend.
func (b *Backend) Name() string { return "fake" }

// Close implements backends.Backend.
func (b *Backend) Close() error { return nil }

// New implements backends.Backend.
func (b *Backend) New(ctx context.Context, id string) (backends.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.newErr != nil {
		if err := b.newErr(id); err != nil {
			b.counts.NewFailed++
			return nil, fmt.Errorf("fake: new %s: %w", id, err)
		}
	}
	b.counts.New++
	s := &Sandbox{b: b, id: id, files: map[string][]byte{}}
	b.sandboxes = append(b.sandboxes, s)
	return s, nil
}

// Sandbox is one fake sandbox: a map of files and a broken flag.
type Sandbox struct {
	b  *Backend
	id string
	// guarded by b.mu
	files     map[string][]byte
	broken    bool
	destroyed bool
	beside    *Sandbox // what Beside gave since the last Reset
	isBeside  bool
}

var _ backends.Sandbox = (*Sandbox)(nil)

// Break marks the sandbox broken: every later call but Destroy fails with
// backends.ErrBroken, as a real sandbox whose init process died.
func (s *Sandbox) Break() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.broken = true
}

// Destroyed reports whether Destroy was called.
func (s *Sandbox) Destroyed() bool {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.destroyed
}

// ID implements backends.Sandbox.
func (s *Sandbox) ID() string { return s.id }

// check reports why the sandbox cannot be used; the caller holds b.mu.
func (s *Sandbox) check() error {
	switch {
	case s.destroyed:
		return fmt.Errorf("fake: sandbox %s used after Destroy: %w", s.id, backends.ErrBroken)
	case s.broken:
		return fmt.Errorf("fake: sandbox %s: %w", s.id, backends.ErrBroken)
	}
	return nil
}

// PutFile implements backends.Sandbox.
func (s *Sandbox) PutFile(ctx context.Context, path string, r io.Reader, mode fs.FileMode) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	s.files[path] = data
	return nil
}

// Collect implements backends.Sandbox over the files put or left by a
// Run hook (see SetFile), in path order.
func (s *Sandbox) Collect(ctx context.Context, dir string, maxFiles int, maxBytes int64, fn func(path string, mode fs.FileMode, r io.Reader) error) error {
	s.b.mu.Lock()
	if err := s.check(); err != nil {
		s.b.mu.Unlock()
		return err
	}
	var paths []string
	for _, p := range slices.Sorted(maps.Keys(s.files)) {
		if dir == "" || strings.HasPrefix(p, dir+"/") {
			paths = append(paths, p)
		}
	}
	files := make(map[string][]byte, len(s.files))
	maps.Copy(files, s.files)
	s.b.mu.Unlock()
	var total int64
	for i, p := range paths {
		if total += int64(len(files[p])); i >= maxFiles || total > maxBytes {
			return fmt.Errorf("fake: collect: over %d files or %d bytes", maxFiles, maxBytes)
		}
		if err := fn(p, 0o644, bytes.NewReader(files[p])); err != nil {
			return err
		}
	}
	return nil
}

// SetFile puts a file into the sandbox as a program would (a Run hook
// making a compile's output).
func (s *Sandbox) SetFile(path string, data []byte) {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.files[path] = append([]byte(nil), data...)
}

// Run implements backends.Sandbox by calling the backend's Run hook
// without holding any lock, so a hook may block or call Break.
func (s *Sandbox) Run(ctx context.Context, spec backends.RunSpec) (backends.RunResult, error) {
	s.b.mu.Lock()
	if err := s.check(); err != nil {
		s.b.mu.Unlock()
		return backends.RunResult{}, err
	}
	s.b.counts.Run++
	run := s.b.run
	files := make(map[string][]byte, len(s.files))
	for k, v := range s.files {
		files[k] = v
	}
	s.b.mu.Unlock()
	if run == nil {
		return backends.RunResult{}, nil
	}
	if spec.StdinFrom != nil {
		// Hooks read Stdin whichever way it came.
		b, err := io.ReadAll(spec.StdinFrom)
		if err != nil {
			return backends.RunResult{}, err
		}
		spec.Stdin, spec.StdinFrom = b, nil
	}
	return run(ctx, s, spec, files)
}

// Reset implements backends.Sandbox.
func (s *Sandbox) Reset(ctx context.Context) error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.counts.Reset++
	if err := s.check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.b.resetErr != nil {
		if err := s.b.resetErr(s); err != nil {
			s.broken = true
			return fmt.Errorf("fake: reset %s: %w: %w", s.id, err, backends.ErrBroken)
		}
	}
	s.files = map[string][]byte{}
	if s.beside != nil {
		s.beside.destroyLocked()
		s.beside = nil
	}
	return nil
}

// Ping implements backends.Sandbox.
func (s *Sandbox) Ping() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.check()
}

// Destroy implements backends.Sandbox; a second call does nothing.
func (s *Sandbox) Destroy() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.destroyLocked()
	return nil
}

func (s *Sandbox) destroyLocked() {
	if s.destroyed {
		return
	}
	s.destroyed = true
	s.b.counts.Destroy++
	s.files = nil
	if s.beside != nil {
		s.beside.destroyLocked()
		s.beside = nil
	}
}

// Start implements backends.Sandbox with the Run hook, called in a
// goroutine: the hook finds the given stdin, unread, in spec.StdinFrom
// (so it may converse with what is at the other end), and what it returns
// as Stdout is written to the given stdout once it has returned.
func (s *Sandbox) Start(ctx context.Context, spec backends.RunSpec, stdio backends.Stdio) (backends.Process, error) {
	s.b.mu.Lock()
	if err := s.check(); err != nil {
		s.b.mu.Unlock()
		stdio.Stdin.Close()
		stdio.Stdout.Close()
		return nil, err
	}
	s.b.counts.Run++
	run := s.b.run
	files := maps.Clone(s.files)
	s.b.mu.Unlock()
	p := &process{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer stdio.Stdin.Close()
		defer stdio.Stdout.Close()
		if run == nil {
			return
		}
		spec.Stdin, spec.StdinFrom = nil, stdio.Stdin
		p.res, p.err = run(ctx, s, spec, files)
		if p.err == nil {
			_, _ = stdio.Stdout.Write(p.res.Stdout)
			p.res.Stdout = nil
		}
	}()
	return p, nil
}

type process struct {
	done chan struct{}
	res  backends.RunResult
	err  error
}

func (p *process) Wait() (backends.RunResult, error) {
	<-p.done
	return p.res, p.err
}

// Beside implements backends.Sandbox: another fake sandbox of the same
// backend, thrown away at the next Reset.
func (s *Sandbox) Beside(ctx context.Context) (backends.Sandbox, error) {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	if s.isBeside {
		return nil, fmt.Errorf("fake: sandbox %s is itself beside another", s.id)
	}
	if s.beside == nil {
		s.b.counts.New++
		s.beside = &Sandbox{b: s.b, id: s.id + "-beside", files: map[string][]byte{}, isBeside: true}
		s.b.sandboxes = append(s.b.sandboxes, s.beside)
	}
	return s.beside, nil
}

// ErrInjected is a convenient error for hooks to return.
var ErrInjected = errors.New("fake: injected failure")
