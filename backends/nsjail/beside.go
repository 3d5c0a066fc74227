package nsjail

import (
	"context"

	"github.com/pecan-judge/pecan/backends"
)

// Beside gives a sandbox with a work directory tmpfs of its own, built on
// first use after each Reset, for a program that runs while this
// sandbox's does (an interactive validator): every run of it is a jail of
// its own, as every run is, binding that work directory and no other. It
// is destroyed, its tmpfs unmounted, at the next Reset.
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
