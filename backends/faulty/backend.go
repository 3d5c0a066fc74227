package faulty

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"

	"github.com/pecan-judge/pecan/backends"
)

// ErrInjected marks a failure the injector caused.
var ErrInjected = errors.New("injected fault")

// initPIDer is what KillInit needs of the wrapped sandbox.
type initPIDer interface{ InitPID() int }

// Backend wraps a real backend with an Injector.
type Backend struct {
	inner backends.Backend
	inj   *Injector
}

// Wrap returns b with faults injected by inj.
func Wrap(b backends.Backend, inj *Injector) *Backend { return &Backend{inner: b, inj: inj} }

// Injector is the wrapper's live rule set.
func (b *Backend) Injector() *Injector { return b.inj }

// Name is the wrapped backend's name.
func (b *Backend) Name() string { return b.inner.Name() }

// Close closes the wrapped backend.
func (b *Backend) Close() error { return b.inner.Close() }

// New builds a sandbox of the wrapped backend, unless creation is to fail.
func (b *Backend) New(ctx context.Context, id string) (backends.Sandbox, error) {
	if b.inj.fire(CreateFail) {
		return nil, fmt.Errorf("build sandbox %s: %w: create_fail", id, ErrInjected)
	}
	sb, err := b.inner.New(ctx, id)
	if err != nil {
		return nil, err
	}
	return &sandbox{Sandbox: sb, inj: b.inj, destroyed: make(chan struct{})}, nil
}

type sandbox struct {
	backends.Sandbox
	inj *Injector

	destroyOnce sync.Once
	destroyed   chan struct{}
}

func (s *sandbox) Run(ctx context.Context, spec backends.RunSpec) (backends.RunResult, error) {
	if s.inj.fire(RunPanic) {
		panic(fmt.Sprintf("%v: run_panic in sandbox %s", ErrInjected, s.ID()))
	}
	if s.inj.fire(RunHang) {
		// A wedged backend does not honour its context; only destroying
		// the sandbox ends the wait.
		<-s.destroyed
		return backends.RunResult{}, fmt.Errorf("run in sandbox %s: %w: %w: run_hang", s.ID(), backends.ErrBroken, ErrInjected)
	}
	if s.inj.fire(KillInit) {
		if p, ok := s.Sandbox.(initPIDer); ok && p.InitPID() > 0 {
			_ = syscall.Kill(p.InitPID(), syscall.SIGKILL)
		}
	}
	return s.Sandbox.Run(ctx, spec)
}

func (s *sandbox) Reset(ctx context.Context) error {
	if s.inj.fire(ResetFail) {
		return fmt.Errorf("reset sandbox %s: %w: %w: reset_fail", s.ID(), backends.ErrBroken, ErrInjected)
	}
	return s.Sandbox.Reset(ctx)
}

func (s *sandbox) Destroy() error {
	s.destroyOnce.Do(func() { close(s.destroyed) })
	return s.Sandbox.Destroy()
}
