package isolate

import (
	"context"
	"fmt"

	"github.com/pecan-judge/pecan/backends"
)

// Beside gives a sandbox on a second box, claimed (and locked) as the
// first was and built on first use after each Reset, for a program that
// runs while this sandbox's does (an interactive validator): its work
// directory, /tmp and namespaces are its own. It is destroyed, and its box
// released, at the next Reset, so an idle sandbox holds one box.
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
