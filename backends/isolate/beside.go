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
