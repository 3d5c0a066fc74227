package nsjail

import (
	"context"
	"fmt"

	"github.com/pecan-judge/pecan/backends"
)

// Beside gives a sandbox with a work directory tmpfs of its own, built on
// first use after each Reset, for a program that runs while this
// sandbox's does (an interactive validator): every run of it is a jail of
// its own, as every run is, binding that work directory and no other. It
// is destroyed, its tmpfs unmounted, at the next Reset.
func (s *sandbox) Beside(ctx context.Context) (backends.Sandbox, error) {
	if s.isBeside {
		return nil, fmt.Errorf("sandbox %s is itself beside another", s.id)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("beside sandbox %s: %w", s.id, err)
	}
	s.mu.Lock()
	b, destroyed := s.beside, s.destroyed
	s.mu.Unlock()
	if destroyed {
		return nil, fmt.Errorf("beside sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
	}
	if b != nil {
		return b, nil
	}
	nb, err := s.backend.newSandbox(ctx, s.id+"-beside")
	if err != nil {
		return nil, fmt.Errorf("beside sandbox %s: %w", s.id, err)
	}
	nb.isBeside = true
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed || s.beside != nil {
		// Destroyed meanwhile, or another call was quicker.
		_ = nb.Destroy()
		if s.destroyed {
			return nil, fmt.Errorf("beside sandbox %s: %w: %w", s.id, backends.ErrBroken, errDestroyed)
		}
		return s.beside, nil
	}
	s.beside = nb
	return nb, nil
}

// takeBeside detaches the sandbox Beside gave, if any, for the caller to
// destroy; the caller holds s.mu.
func (s *sandbox) takeBeside() *sandbox {
	b := s.beside
	s.beside = nil
	return b
}

// destroyBeside destroys b (nil: nothing) and says what failed.
func destroyBeside(b *sandbox) error {
	if b == nil {
		return nil
	}
	if err := b.Destroy(); err != nil {
		return fmt.Errorf("the sandbox beside: %w", err)
	}
	return nil
}
