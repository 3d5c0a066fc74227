package isolate

import (
	"context"

	"github.com/pecan-judge/pecan/backends"
)

// Beside gives a sandbox on a second box, claimed (and locked) as the
// first was and built on first use after each Reset, for a program that
// runs while this sandbox's does (an interactive validator): its work
// directory, /tmp and namespaces are its own. It is destroyed, and its box
// released, at the next Reset, so an idle sandbox holds one box.
func (s *sandbox) Beside(ctx context.Context) (backends.Sandbox, error) {
	return s.beside.Get(ctx, s.id, func(ctx context.Context) (backends.Sandbox, error) {
		nb, err := s.backend.newSandbox(ctx, s.id+"-beside")
		if err != nil {
			return nil, err
		}
		nb.beside.Nest()
		return nb, nil
	})
}
