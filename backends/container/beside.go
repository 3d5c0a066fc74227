package container

import (
	"context"
	"fmt"

	"github.com/pecan-judge/pecan/backends"
)

// Beside gives a container of its own, built on first use after each
// Reset, for a program that runs while this sandbox's runs (an
// interactive validator). It shares nothing with this sandbox's container:
// namespaces, work directory, uid and per-run cgroups are its own. It is
// thrown away at the next Reset, so a settled sandbox keeps its one
// container.
func (s *sandbox) Beside(ctx context.Context) (backends.Sandbox, error) {
	return s.beside.Get(ctx, s.id, func(context.Context) (backends.Sandbox, error) {
		if !s.backend.work.start() {
			return nil, fmt.Errorf("%w: backend closed", backends.ErrBroken)
		}
		defer s.backend.work.finish()
		env, uid, err := s.backend.build()
		if err != nil {
			return nil, fmt.Errorf("%w: build: %w", backends.ErrBroken, err)
		}
		nb := &sandbox{id: s.id + "-beside", backend: s.backend, env: env, uid: uid}
		nb.beside.Nest()
		return nb, nil
	})
}
