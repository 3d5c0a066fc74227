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
	b, err := s.beside.Get(ctx, func(ctx context.Context) (backends.Sandbox, error) {
		nb, err := s.backend.newSandbox(ctx, s.id+"-beside")
		if err != nil {
			return nil, err
		}
		nb.isBeside = true
		return nb, nil
	})
	if err != nil {
		return nil, fmt.Errorf("beside sandbox %s: %w", s.id, err)
	}
	return b, nil
}
